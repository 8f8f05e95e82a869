"""Checks shared by the indexing tests: what a clean build of a folder would store, and
whether the store holds exactly that."""

from __future__ import annotations

from pathlib import Path

from index.build import _prepare, open_store, versioned
from rag.embed import model_dir
from rag.load import iter_files, load_document
from rag.settings import Settings


def expected_records(settings: Settings, corpus: Path) -> tuple[set[str], set[str], set[str]]:
    """Chunk, sentence and document ids a clean build of ``corpus`` would write."""
    chunks: set[str] = set()
    sents: set[str] = set()
    docs: set[str] = set()
    for path, rel in iter_files(corpus):
        doc = versioned(load_document(path, rel, settings.max_file_bytes), settings)
        s, c, _ = _prepare(doc, model_dir(), settings)
        chunks.update(x.id for x in c)
        sents.update(x.id for x in s)
        docs.add(doc.doc_id)
    return chunks, sents, docs


def check_records(settings: Settings, corpus: Path) -> dict[str, int]:
    """The store holds exactly what a clean build would: no duplicates, no leftovers."""
    store = open_store(settings)
    docs = store.documents()
    counts = store.counts()
    chunks, sents, doc_ids = expected_records(settings, corpus)
    assert sorted(d.source for d in docs) == sorted(rel for _, rel in iter_files(corpus))
    assert counts == {"docs": len(doc_ids), "chunks": len(chunks)}
    assert set(store.ids("chunks")) == chunks
    assert set(store.all_sentences()) == sents
    assert set(store.ids("docs")) == doc_ids
    assert counts["chunks"] == sum(d.chunks for d in docs)
    assert len(sents) == sum(d.sentences for d in docs)
    return {**counts, "sentences": len(sents)}
