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
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from index.store import ChromaStore, DocRecord, DocWrite, foreign_folder
from rag.chunk import chunk_document
from rag.embed import (
    EMBED_SCHEME,
    MODEL_NAME,
    Embedder,
    MiniLMEmbedder,
    embed_segmented,
    model_dir,
)
from rag.errors import IndexCorruptError, InputError
from rag.late import late_version
from rag.lexical import LexicalIndex, WordVectors, date_words
from rag.load import Skipped, iter_files, load_document
from rag.segment import split_sentences
from rag.settings import Settings
from rag.types import Document, Segmented, content_id

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


def lexical_for(
    settings: Settings, store: ChromaStore, docs: Sequence[DocRecord], rebuild: bool = False
) -> LexicalIndex:
    """The BM25 index for the store's current content: loaded from the local cache when its
    fingerprint matches, else built once from the store's committed chunk texts and cached.

    The cache lives in the index folder; in server mode each client machine keeps its own
    copy, rebuilt only when the shared index changes. ``rebuild`` (after indexing) replaces
    a cached copy that a reader may have built while the writer was half-way.
    """
    fp = fingerprint(docs)
    expected = sum(d.chunks for d in docs)
    root = settings.index_dir / "lexical"
    folder = root / fp
    if not rebuild and (folder / "lexicon.json").is_file():
        try:
            lex = LexicalIndex.load(folder)
            if len(lex.ids) == expected:
                return lex
        except (OSError, ValueError, KeyError):
            pass
        shutil.rmtree(folder, ignore_errors=True)
    ids, texts = store.all_chunk_texts({d.source: d.content_hash for d in docs})
    meta = [f"{d.title} {d.author or ''} {date_words(d.date)}" for d in docs]
    lex = LexicalIndex.build(ids, texts, meta)
    if len(ids) != expected:
        return lex  # the store changed while we read it: answer from memory, cache nothing
    if foreign_folder(settings.index_dir):
        return lex  # server mode with some other folder as --index-dir: write nothing into it
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


def word_vectors_for(settings: Settings, lex: LexicalIndex, embedder: Embedder) -> WordVectors:
    """A vector for each word of the corpus (a token's most common form, embedded alone), so
    the answerer can tell "troops" is near "soldiers". Cached in the index folder by word: only
    words new to the index are embedded."""
    folder = settings.index_dir / "words"
    cache: dict[str, np.ndarray] = {}
    try:
        forms = json.loads((folder / "words.json").read_text(encoding="utf-8"))
        vecs = np.load(folder / "vectors.npy")
        if len(forms) == len(vecs) and vecs.shape[1:] == (embedder.dim,):
            cache = dict(zip(forms, vecs.astype(np.float32), strict=True))
    except (OSError, ValueError):
        pass  # none yet, or unreadable: embed them again
    need = sorted(set(lex.forms.values()) - cache.keys())
    if need:
        # kept at the precision they are saved with: an index reopened from its folder and
        # one that embedded the words itself give the same figures
        fresh = embedder.embed(need, progress=len(need) >= 2000).astype(np.float16)
        cache.update(zip(need, fresh.astype(np.float32), strict=True))
        if not foreign_folder(settings.index_dir):
            _save_words(folder, cache)
    return WordVectors({tok: cache[form] for tok, form in lex.forms.items()})


def _save_words(folder: Path, cache: dict[str, np.ndarray]) -> None:
    """Written beside, then renamed over the old copy: a reader sees the old set or the new."""
    tmp = folder.with_name(f".words-{time.time_ns()}")
    try:
        tmp.mkdir(parents=True)
        forms = sorted(cache)
        np.save(tmp / "vectors.npy", np.stack([cache[f] for f in forms]).astype(np.float16))
        (tmp / "words.json").write_text(json.dumps(forms), encoding="utf-8")
        old = folder.with_name(f".words-old-{time.time_ns()}")
        if folder.exists():
            folder.rename(old)
        tmp.rename(folder)
        shutil.rmtree(old, ignore_errors=True)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)  # a read-only folder still answers, from memory


def segment(doc: Document, mdir: str, settings: Settings) -> Segmented:
    """``doc`` cut into sentences and chunks (sized in the tokens of the model in ``mdir``)."""
    sentences = split_sentences(doc)
    chunks = chunk_document(doc, mdir, settings.chunk_tokens, settings.chunk_overlap)
    # each chunk lists the sentences it overlaps, in order
    chunk_sents = tuple(
        tuple(s.id for s in sentences if s.clean_end > c.clean_start and s.clean_start < c.clean_end)
        for c in chunks
    )
    return Segmented(doc, tuple(sentences), tuple(chunks), chunk_sents)


def versioned(doc: Document, settings: Settings) -> Document:
    """The document with a hash that also names the model, the chunking and what sentence
    vectors are made from, so changing any of them re-embeds every document on the next run."""
    tag = (
        f"{MODEL_NAME}/{settings.chunk_tokens}/{settings.chunk_overlap}/{EMBED_SCHEME}"
        f"/{late_version()}"
    )
    return replace(doc, content_hash=f"{doc.content_hash}@{content_id(tag)[:8]}")


PASS_BATCHES = 32  # batches of the model per group of documents embedded and committed together


@dataclass
class _Batch:
    """Documents cut but not yet embedded: embedded together in one call, so the model sees
    full, length-sorted batches across small documents, then stored and committed together."""

    settings: Settings
    store: ChromaStore
    embedder: Embedder
    report: IndexReport
    items: list[Segmented] = field(default_factory=list)
    updated: set[str] = field(default_factory=set)  # sources that replace an indexed version
    texts: int = 0

    @property
    def full(self) -> bool:
        # chunks per model pass and commit: enough that length-sorted batches pad little (on
        # bench stories, batches of 64 padded 6.2% over the real word pieces in groups of 512
        # chunks, 1.9% in groups of 2,048); the model pools each batch as it goes, so memory
        # does not grow with the group
        return self.texts >= max(PASS_BATCHES * self.settings.batch_size, 8)

    def add(self, item: Segmented, updates: bool) -> None:
        self.items.append(item)
        if updates:
            self.updated.add(item.doc.source)
        self.texts += len(item.chunks)
        if self.full:
            self.flush()

    def flush(self) -> None:
        """Embed, store and commit what is pending."""
        if not self.items:
            return
        n_chars = sum(
            sum(len(s.text) for s in it.sentences) + sum(len(c.text) for c in it.chunks)
            for it in self.items
        )
        n_chunks = sum(len(it.chunks) for it in self.items)
        _check_space(self.settings, n_chunks + len(self.items), n_chars)
        writes = [
            DocWrite(
                it.doc, it.chunks, v.chunks, it.sentences, v.sentences, it.chunk_sentences,
                v.tokens,
            )
            for it, v in zip(self.items, embed_segmented(self.embedder, self.items), strict=True)
        ]
        replaced = [it.doc.source for it in self.items if it.doc.source in self.updated]
        self.store.write_documents(writes, replaced=replaced)
        for it in self.items:
            (self.report.updated if it.doc.source in self.updated else self.report.added).append(
                it.doc.source
            )
            self.report.chunks += len(it.chunks)
            self.report.sentences += len(it.sentences)
        self.items, self.updated, self.texts = [], set(), 0


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

    Documents are embedded in groups of about ``PASS_BATCHES * settings.batch_size`` chunks and each
    group is committed as soon as it is stored. A crash part-way leaves every committed
    document answerable; the next run embeds the rest and drops the leftovers.
    """
    t0 = time.perf_counter()
    roots = _checked_roots(settings, paths)
    embedder = embedder or MiniLMEmbedder(settings.device, settings.batch_size)
    store = _open_for_writing(settings)
    known = {d.source: d for d in store.documents()}
    files = [f for r in roots for f in iter_files(r)]
    report = IndexReport()
    batch = _Batch(settings, store, embedder, report)
    first_with_text = _texts_kept(known, files, prune)
    mdir = model_dir()
    for i, (path, rel) in enumerate(files):
        if progress:
            progress(i, len(files), rel)
        doc = _load(path, rel, _corpus_root(roots, path), settings, report)
        if doc is None or _skip_copy(doc, first_with_text, known, store, report):
            continue
        old = known.get(rel)
        if old is not None and old.content_hash == doc.content_hash:
            report.unchanged.append(rel)
            continue
        batch.add(segment(doc, mdir, settings), updates=old is not None)
    batch.flush()
    if progress:
        progress(len(files), len(files), "")
    if prune:
        _remove_missing(store, known, {rel for _, rel in files}, report)
    _finish(settings, store, embedder, report)
    report.seconds = time.perf_counter() - t0
    return report


def _checked_roots(settings: Settings, paths: Sequence[Path] | None) -> list[Path]:
    """The folders or files to index; refuses a missing one, and an index folder that holds
    something else (before anything is created in it)."""
    roots = [Path(p) for p in (paths or [settings.corpus_dir])]
    for r in roots:
        if not r.exists():
            raise InputError(f"no such folder or file: {r}")
    foreign = foreign_folder(settings.index_dir)
    if foreign:
        raise InputError(foreign)
    return roots


def _open_for_writing(settings: Settings) -> ChromaStore:
    store = open_store(settings)
    store.ensure()
    settings.index_dir.mkdir(parents=True, exist_ok=True)
    return store


def _corpus_root(roots: Sequence[Path], path: Path) -> Path:
    """The folder a file's links must stay inside."""
    return roots[0] if len(roots) == 1 and roots[0].is_dir() else path.parent


def _texts_kept(
    known: dict[str, DocRecord], files: Sequence[tuple[Path, str]], prune: bool
) -> dict[str, str]:
    """Text hash -> source, for the indexed documents this run keeps without reading them.

    The same text under two names is indexed once, under the first name in walk order
    (documents kept from outside this run come first), so an answer or a list of closest
    passages never shows one sentence twice.
    """
    names = {rel for _, rel in files}
    return {
        _text_hash(d.content_hash): d.source
        for d in known.values()
        if not prune and d.source not in names
    }


def _load(
    path: Path, rel: str, root: Path, settings: Settings, report: IndexReport
) -> Document | None:
    """The file loaded and versioned, or None, with the reason in the report, when it cannot
    be: one bad file never stops the run."""
    if path.is_symlink():
        from rag.load import is_inside

        if not is_inside(path, root):
            report.skipped.append(Skipped(rel, "a link that points outside the corpus folder"))
            return None
    try:
        return versioned(load_document(path, rel, settings.max_file_bytes), settings)
    except Exception as e:
        from rag.errors import LoadError

        reason = (
            str(e).removeprefix(f"{rel}: ")
            if isinstance(e, LoadError)
            else f"{type(e).__name__}: {e}"
        )
        report.skipped.append(Skipped(rel, reason))
        return None


def _skip_copy(
    doc: Document,
    first_with_text: dict[str, str],
    known: dict[str, DocRecord],
    store: ChromaStore,
    report: IndexReport,
) -> bool:
    """True when ``doc`` has the text of a document indexed under another name (which then
    stays the only one); a copy indexed before it became one is removed."""
    rel = doc.source
    first = first_with_text.setdefault(_text_hash(doc.content_hash), rel)
    if first == rel:
        return False
    report.skipped.append(Skipped(rel, f"the same text as {first}, which is indexed"))
    if rel in known:
        store.delete_document(rel)
        report.removed.append(rel)
    return True


def _remove_missing(
    store: ChromaStore, known: dict[str, DocRecord], seen: set[str], report: IndexReport
) -> None:
    for source in sorted(set(known) - seen):
        store.delete_document(source)
        report.removed.append(source)


def _finish(
    settings: Settings, store: ChromaStore, embedder: Embedder, report: IndexReport
) -> None:
    """Drop crash leftovers, then bring the lexical index, the word vectors and the manifest
    up to the committed documents."""
    docs = store.documents()
    committed = {d.source: d.content_hash for d in docs}
    orphans = 0
    # records beyond what the committed documents account for are leftovers of a crash
    if store.counts()["chunks"] != sum(d.chunks for d in docs):
        orphans = store.drop_orphans(committed)
    changed = bool(report.added or report.updated or report.removed or orphans)
    word_vectors_for(settings, lexical_for(settings, store, docs, rebuild=changed), embedder)
    _write_manifest(settings, docs)


# Chroma 1.5.9 took about 49 KB of disk per chunk record (1k bench corpus: its metadata with
# the sentences, the index on metadata strings, log, full-text index and HNSW graph); twice
# that, plus a margin for SQLite's journal, is asked for before writing.
BYTES_PER_RECORD = 100_000
FREE_MARGIN_BYTES = 16_000_000


def _check_space(settings: Settings, records: int, text_chars: int) -> None:
    """Refuse to write when the index's disk is nearly full: a Chroma folder that runs out of
    space mid-write fails that write, and later calls in the same process can then wait on
    a lock for many minutes (a server stays stuck), so the run stops before writing."""
    if settings.chroma_url:
        return  # the server's disk is not ours to see
    try:
        free = shutil.disk_usage(settings.index_dir).free
    except OSError:
        return
    need = records * BYTES_PER_RECORD + 4 * text_chars + FREE_MARGIN_BYTES
    if free < need:
        raise IndexCorruptError(
            f"the disk holding {settings.index_dir} is nearly full: {free / 1e6:.1f} MB free, and "
            f"indexing needs about {need / 1e6:.0f} MB. Free space and rerun; documents "
            "indexed before this point are kept, the rest were not written."
        )


def _text_hash(content_hash: str) -> str:
    # a content hash is sha256(text) + metadata and model tags: the text's part alone
    return content_hash[:64]


def _write_manifest(settings: Settings, docs: Sequence[DocRecord]) -> None:
    """A small human-readable summary beside the index, for people and for `rag stats`."""
    data = {
        "model": "all-MiniLM-L6-v2",
        "fingerprint": fingerprint(docs),
        "documents": len(docs),
        "chunks": sum(d.chunks for d in docs),
    }
    try:
        (settings.index_dir / "manifest.json").write_text(
            json.dumps(data, indent=1), encoding="utf-8"
        )
    except OSError:
        pass
