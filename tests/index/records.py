"""Checks shared by the indexing tests: what a clean build of a folder would store, and
whether the store holds exactly that."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

from index.build import open_store, segment, versioned
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
        cut = segment(doc, model_dir(), settings)
        chunks.update(x.id for x in cut.chunks)
        sents.update(x.id for x in cut.sentences)
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


DELETE = 3  # the operation code of a delete in Chroma's log (chromadb/db/mixins/embeddings_queue.py)


def chroma_records(index_dir: Path, timeout: float = 30) -> dict[tuple[str, str], int]:
    """{(collection, source): records} as Chroma will see them, read from its SQLite file with
    plain SQL, so no second Chroma client opens a folder a server may be using. Opened read-write
    (it only reads) because after a SIGKILL SQLite must roll back a hot journal first, which a
    read-only connection refuses to do.

    Chroma writes each call to its log (``embeddings_queue``) first and applies it to the
    metadata tables after; a SIGKILL between the two leaves entries it replays on the next open.
    So: the applied records, plus the log past what the metadata segment has applied."""
    db = index_dir / "chroma" / "chroma.sqlite3"
    with sqlite3.connect(f"file:{db}?mode=rw", uri=True, timeout=timeout) as con:
        segments = con.execute(
            "SELECT s.id, c.id, c.name FROM segments s JOIN collections c ON s.collection = c.id "
            "WHERE s.scope = 'METADATA'"
        ).fetchall()
        applied = {seg: int(n) for seg, n in con.execute("SELECT segment_id, seq_id FROM max_seq_id")}
        ids: dict[str, dict[str, str]] = {}  # collection name -> {record id: source}
        for seg, coll, name in segments:
            have = ids.setdefault(str(name).removeprefix("rag-"), {})
            have.update(con.execute(
                "SELECT e.embedding_id, m.string_value FROM embeddings e "
                "JOIN embedding_metadata m ON m.id = e.id AND m.key = 'source' "
                "WHERE e.segment_id = ?", (seg,)
            ).fetchall())
            pending = con.execute(
                "SELECT operation, id, metadata FROM embeddings_queue "
                "WHERE seq_id > ? AND topic LIKE ? ORDER BY seq_id", (applied.get(seg, 0), f"%/{coll}")
            ).fetchall()
            for op, rid, meta in pending:
                if op == DELETE:
                    have.pop(rid, None)
                elif meta and "source" in (m := json.loads(meta)):
                    have[rid] = m["source"]
    counts: dict[tuple[str, str], int] = {}
    for kind, have in ids.items():
        for source in have.values():
            counts[kind, source] = counts.get((kind, source), 0) + 1
    return counts
