"""The store and the index's life: the Chroma adapter, building and updating, asking.

>>> from index import open_index   # doctest: +SKIP
"""

from index.build import IndexReport, build_index
from index.service import Index, open_index
from rag.types import Filters

__all__ = ["Filters", "Index", "IndexReport", "build_index", "open_index"]
