"""The Chroma adapter speaks Chroma's language; everything else passes plain `Filters`."""

from __future__ import annotations

import ast

import pytest

from index.store import _where
from rag.errors import InputError
from rag.types import Filters
from tests.conftest import ROOT


def test_filters_become_a_chroma_where():
    assert _where(None) is None and _where(Filters()) is None
    assert _where(Filters(sources=("a.txt",))) == {"source": {"$in": ["a.txt"]}}
    assert _where(Filters(date_from="2025-01-02", date_to="2025-03-04")) == {
        "$and": [{"date_num": {"$gte": 20250102}}, {"date_num": {"$lte": 20250304}}]
    }


def test_no_module_outside_the_adapter_calls_its_private_methods():
    offenders = []
    for pkg in ("rag", "index", "eval", "ui", "bench"):
        for path in sorted((ROOT / pkg).rglob("*.py")):
            if path == ROOT / "index" / "store.py":
                continue
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if isinstance(node, ast.Attribute) and node.attr in ("_col", "_call"):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders


def test_filtered_retrieval_keeps_to_the_filters(index):
    q = "What did Putin say about a ceasefire?"
    spring = Filters(date_from="2025-01-01")
    got = index.retrieve(q, k=8, filters=spring)
    assert got and {c.date for c, _ in got} == {"2025-03-13"}
    for mode in ("dense", "lexical"):
        assert all(c.date == "2025-03-13" for c, _ in index.retrieve(q, k=8, mode=mode, filters=spring))
    one = Filters(sources=("002_b8e9ef5253d98c4a.txt",))
    assert {c.source for c, _ in index.retrieve(q, k=8, filters=one)} == set(one.sources)
    answer = index.ask(q, filters=Filters(date_to="2024-12-31"))
    # an undated document counts as older than any date
    assert answer.citations and {c.date for c in answer.citations} <= {"2024-06-15", None}
    # filters that admit everything retrieve what no filters do
    assert index.retrieve(q, filters=Filters()) == index.retrieve(q)


def test_an_unknown_mode_is_refused_by_name(index):
    with pytest.raises(InputError, match="Currently, it is 'semantic'"):
        index.retrieve("What did Putin say?", mode="semantic")  # type: ignore[arg-type]
