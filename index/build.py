"""Building and updating an index: only new or changed documents are embedded.

>>> from index.build import build_index                      # doctest: +SKIP
>>> report = build_index(Settings.from_env(), [Path("corpus")])  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from index.store import ChromaStore, DocRecord
from rag.chunk import chunk_document
from rag.embed import Embedder, MiniLMEmbedder, model_dir
from rag.errors import InputError
from rag.lexical import LexicalIndex, date_words
from rag.load import Skipped, iter_files, load_document
from rag.segment import split_sentences
from rag.settings import Settings
from rag.types import Document

Progress = Callable[[int, int, str], None]


@dataclass
class IndexReport:
    """What one ``rag index`` run did."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    chunks: int = 0
    sentences: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        return (
            f"added {len(self.added)}, updated {len(self.updated)}, removed {len(self.removed)}, "
            f"unchanged {len(self.unchanged)}, skipped {len(self.skipped)} "
            f"({self.chunks} chunks, {self.sentences} sentences embedded in {self.seconds:.1f}s)"
        )


def open_store(settings: Settings) -> ChromaStore:
    return ChromaStore(settings.index_dir, settings.chroma_url, settings.collection)


def fingerprint(docs: Sequence[DocRecord]) -> str:
    """Names the index's content: it changes whenever any committed document does."""
    h = hashlib.sha256()
    for d in sorted(docs, key=lambda d: d.source):
        h.update(f"{d.source}\x1f{d.content_hash}\n".encode())
    return h.hexdigest()[:20]


def lexical_for(settings: Settings, store: ChromaStore, docs: Sequence[DocRecord]) -> LexicalIndex:
    """The BM25 index for the store's current content: loaded from the local cache when its
    fingerprint matches, else built once from the store's chunk texts and cached.

    The cache lives in the index folder; in server mode each client machine keeps its own
    copy, rebuilt only when the shared index changes.
    """
    fp = fingerprint(docs)
    root = settings.index_dir / "lexical"
    folder = root / fp
    if (folder / "lexicon.json").is_file():
        try:
            return LexicalIndex.load(folder)
        except (OSError, ValueError, KeyError):
            shutil.rmtree(folder, ignore_errors=True)
    ids, texts = store.all_chunk_texts()
    meta = [f"{d.title} {d.author or ''} {date_words(d.date)}" for d in docs]
    lex = LexicalIndex.build(ids, texts, meta)
    tmp = root / f".tmp-{fp}-{time.time_ns()}"
    try:
        lex.save(tmp)
        if folder.exists():
            shutil.rmtree(folder, ignore_errors=True)
        tmp.rename(folder)  # atomic: a reader never sees half a lexical index
        for old in root.iterdir():
            if old.name != fp and not old.name.startswith(".tmp-"):
                shutil.rmtree(old, ignore_errors=True)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)  # a read-only cache still answers, from memory
    return lex


def _prepare(doc: Document, mdir: str, settings: Settings):  # type: ignore[no-untyped-def]
    sentences = split_sentences(doc)
    chunks = chunk_document(doc, mdir, settings.chunk_tokens, settings.chunk_overlap)
    # each chunk lists the sentences it overlaps, in order
    chunk_sents = [
        [s.id for s in sentences if s.clean_end > c.clean_start and s.clean_start < c.clean_end]
        for c in chunks
    ]
    return sentences, chunks, chunk_sents


def build_index(
    settings: Settings,
    paths: Sequence[Path] | None = None,
    *,
    embedder: Embedder | None = None,
    progress: Progress | None = None,
    prune: bool = True,
) -> IndexReport:
    """Index ``paths`` (default: the corpus folder): embed new and changed documents, remove
    documents that are gone (when ``prune``), and rebuild the lexical index.

    A crash part-way leaves every committed document answerable; the next run finishes the job.
    """
    t0 = time.perf_counter()
    roots = [Path(p) for p in (paths or [settings.corpus_dir])]
    for r in roots:
        if not r.exists():
            raise InputError(f"no such folder or file: {r}")
    embedder = embedder or MiniLMEmbedder(settings.device, settings.batch_size)
    store = open_store(settings)
    store.ensure()
    settings.index_dir.mkdir(parents=True, exist_ok=True)
    known = {d.source: d for d in store.documents()}
    report = IndexReport()
    files: list[tuple[Path, str]] = []
    for r in roots:
        files.extend(iter_files(r))
    seen: set[str] = set()
    mdir = model_dir()
    for i, (path, rel) in enumerate(files):
        if progress:
            progress(i, len(files), rel)
        seen.add(rel)
        base = roots[0] if len(roots) == 1 and roots[0].is_dir() else path.parent
        if path.is_symlink():
            from rag.load import is_inside

            if not is_inside(path, base):
                report.skipped.append(Skipped(rel, "a link that points outside the corpus folder"))
                continue
        try:
            doc = load_document(path, rel, settings.max_file_bytes)
        except Exception as e:  # one bad file never stops the run: say which and why
            from rag.errors import LoadError

            reason = str(e).removeprefix(f"{rel}: ") if isinstance(e, LoadError) else f"{type(e).__name__}: {e}"
            report.skipped.append(Skipped(rel, reason))
            continue
        old = known.get(rel)
        if old is not None and old.content_hash == doc.content_hash:
            report.unchanged.append(rel)
            continue
        sentences, chunks, chunk_sents = _prepare(doc, mdir, settings)
        vecs = embedder.embed([c.text for c in chunks] + [s.text for s in sentences])
        store.write_document(doc, chunks, vecs[: len(chunks)], sentences, vecs[len(chunks):], chunk_sents)
        (report.updated if old is not None else report.added).append(rel)
        report.chunks += len(chunks)
        report.sentences += len(sentences)
    if progress:
        progress(len(files), len(files), "")
    if prune:
        for source in sorted(set(known) - seen):
            store.delete_document(source)
            report.removed.append(source)
    docs = store.documents()
    store.drop_orphans({d.source: d.content_hash for d in docs})
    lexical_for(settings, store, docs)
    _write_manifest(settings, docs)
    report.seconds = time.perf_counter() - t0
    return report


def _write_manifest(settings: Settings, docs: Sequence[DocRecord]) -> None:
    """A small human-readable summary beside the index, for people and for `rag stats`."""
    data = {
        "model": "all-MiniLM-L6-v2",
        "fingerprint": fingerprint(docs),
        "documents": len(docs),
        "chunks": sum(d.chunks for d in docs),
    }
    try:
        (settings.index_dir / "manifest.json").write_text(json.dumps(data, indent=1), encoding="utf-8")
    except OSError:
        pass

