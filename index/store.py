"""The Chroma adapter: the only module that imports chromadb.

Two collections per index (and a tiny ``<name>-meta``): ``<name>-docs``, one record per
committed document, written last, so a document is visible only once all its records are in;
and ``<name>-chunks``, one record per passage, which also carries its sentences: their text,
offsets and vectors (computed at indexing time), and the sentence just before the passage.

Sentences are never searched by vector, only read with their passage, so they live inside
the passage's record rather than as records of their own: Chroma then builds no vector graph
and no full-text index for them (writing 4,000 passages took 5 s this way and 40 s with
their 32,000 sentences as records), and a question reads its passages and their sentences
in one call.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

import numpy as np

from rag.errors import IndexCorruptError, InputError, RagError, StoreUnavailableError
from rag.late import DIM as LATE_DIM
from rag.types import Byline, Chunk, Document, DocumentInfo, Filters, Sentence

# 5: a passage's sentences carry their word pieces for late interaction (4: document records
# carry site, url, page starts and headings, for citations; 3: sentences inside their
# passage's record, vectors as float16; 1 kept sentences in a collection of their own; 2,
# never released, stored their vectors as float32)
SCHEMA = 5
DIM = 384


@dataclass(frozen=True)
class DocRecord:
    """What the index knows of one committed document."""

    source: str
    content_hash: str
    title: str
    date: str | None
    author: str | None
    chunks: int
    sentences: int
    byline: Byline | None = None
    site: str | None = None
    url: str | None = None
    page_starts: tuple[int, ...] = ()
    headings: tuple[tuple[int, str], ...] = ()

    def info(self) -> DocumentInfo:
        """What a citation of this document shows, and its page and heading lookups."""
        return DocumentInfo(
            source=self.source, title=self.title, date=self.date, author=self.author,
            site=self.site, url=self.url, page_starts=self.page_starts, headings=self.headings,
        )


@dataclass(frozen=True)
class StoredChunk:
    id: str
    source: str
    text: str
    title: str
    date: str | None
    start: int
    end: int
    doc_hash: str
    # [[id, text, start, end, index, heading, in_chunk, word pieces], ...]
    sents_json: str = "[]"
    sents_b64: str = ""  # their vectors, float16, row by row
    toks_b64: str = ""  # their word pieces (rag/late.py), int8, sentence after sentence

    def sentences(self) -> list[StoredSentence]:
        """The passage's sentences in order; the first may be the one just before the
        passage (``in_chunk`` False), kept so a quote that leans on it can bring it along."""
        rows = json.loads(self.sents_json)
        if not rows:
            return []
        raw = np.frombuffer(base64.b64decode(self.sents_b64), dtype=np.float16)
        vecs = raw.astype(np.float32).reshape(len(rows), -1)
        toks = np.frombuffer(base64.b64decode(self.toks_b64), dtype=np.int8).reshape(-1, LATE_DIM)
        counts = np.array([int(r[7]) for r in rows])
        ends = np.cumsum(counts)
        starts = ends - counts
        return [
            StoredSentence(
                id=r[0], source=self.source, text=r[1], start=int(r[2]), end=int(r[3]),
                index=int(r[4]), heading=bool(r[5]), vector=vecs[i], in_chunk=bool(r[6]),
                tokens=toks[starts[i] : ends[i]],
            )
            for i, r in enumerate(rows)
        ]


@dataclass(frozen=True)
class StoredSentence:
    id: str
    source: str
    text: str
    start: int
    end: int
    index: int
    heading: bool
    vector: np.ndarray
    in_chunk: bool = True
    tokens: np.ndarray | None = None  # its word pieces for late interaction, int8 (rag/late.py)


@dataclass(frozen=True)
class DocWrite:
    """One document version ready to store: its records and their vectors."""

    doc: Document
    chunks: Sequence[Chunk]
    chunk_vecs: np.ndarray
    sentences: Sequence[Sentence]
    sent_vecs: np.ndarray
    chunk_sentences: Sequence[Sequence[str]]
    # per sentence, its word pieces for late interaction (int8, (n, LATE_DIM)); none if empty
    sent_tokens: Sequence[np.ndarray] = ()


class VectorStore(Protocol):
    def documents(self) -> list[DocRecord]: ...
    def write_document(
        self, doc: Document, chunks: Sequence[Chunk], chunk_vecs: np.ndarray,
        sentences: Sequence[Sentence], sent_vecs: np.ndarray, chunk_sentences: Sequence[Sequence[str]],
    ) -> None: ...
    def delete_document(self, source: str) -> None: ...
    def query(self, vector: np.ndarray, k: int, filters: Filters | None = None) -> list[tuple[str, float]]: ...
    def matching_chunk_ids(self, filters: Filters) -> set[str]: ...
    def get_chunks(self, ids: Sequence[str]) -> list[StoredChunk]: ...
    def all_chunk_texts(self, committed: dict[str, str] | None = None) -> tuple[list[str], list[str]]: ...


def _date_num(date: str | None) -> int:
    return int(date.replace("-", "")) if date else 0


def _where(filters: Filters | None) -> dict[str, Any] | None:
    """Chroma's ``where`` for ``filters``: None when they admit every chunk."""
    if filters is None:
        return None
    parts: list[dict[str, Any]] = []
    if filters.sources:
        parts.append({"source": {"$in": list(filters.sources)}})
    if filters.date_from:
        parts.append({"date_num": {"$gte": _date_num(filters.date_from)}})
    if filters.date_to:
        parts.append({"date_num": {"$lte": _date_num(filters.date_to)}})
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else {"$and": parts}


def _wrap(e: Exception, where: str) -> Exception:
    """Turn a client failure into a message a user can act on."""
    text = str(e)
    low = text.lower()
    if any(w in low for w in ("connect", "refused", "timed out", "timeout", "unreachable", "503", "502")):
        return StoreUnavailableError(
            f"the Chroma server at {where} cannot be reached ({text[:120]}). Start it with "
            "`chroma run --path DIR --host 127.0.0.1 --port N`, or unset RAG_CHROMA_URL to use "
            "the local index folder."
        )
    if "readonly" in low or "read-only" in low or "read only" in low or "permission" in low:
        # Chroma writes to its folder even to answer, so a read-only copy cannot be opened
        return IndexCorruptError(
            f"the index at {where} cannot be written ({text[:160]}); Chroma needs write access "
            "to its folder, even to answer: check its permissions, or copy it somewhere writable"
        )
    if "disk" in low and "full" in low or "no space" in low:
        return IndexCorruptError(f"the disk holding {where} is full ({text[:120]}); free space and rerun")
    if "not a database" in low or "malformed" in low or "corrupt" in low:
        return IndexCorruptError(
            f"the index at {where} is damaged or is not a Chroma index ({text[:120]}); move it "
            "aside and run `rag index` to build a new one"
        )
    return IndexCorruptError(f"the index at {where} could not be used ({text[:200]})")


INDEX_MARKS = ("chroma", "lexical", "manifest.json")


def foreign_folder(index_dir: Path) -> str | None:
    """Why ``index_dir`` cannot be an index folder (it holds other things), or None if it can.

    An index folder is new, empty, or holds what `rag index` writes; anything else is some
    other folder given by mistake, and nothing is written into it.
    """
    if not index_dir.exists():
        return None
    if not index_dir.is_dir():
        return f"{index_dir} is a file, not an index folder: pass a folder with --index-dir"
    try:
        names = {p.name for p in index_dir.iterdir()}
    except OSError as e:
        return f"{index_dir} cannot be read ({e.strerror})"
    if names and not names & set(INDEX_MARKS):
        shown = ", ".join(sorted(names)[:3]) + (", ..." if len(names) > 3 else "")
        return (
            f"{index_dir} is not an index folder (it holds {shown}); nothing was written to "
            "it. Pass a new or empty folder, or the one `rag index` made, with --index-dir "
            "(RAG_INDEX_DIR)"
        )
    return None


def _byline_meta(byline: Byline | None) -> dict[str, Any]:
    if byline is None:
        return {}
    return {"byline": byline.text, "byline_start": byline.start, "byline_end": byline.end}


def _citing_meta(doc: Document) -> dict[str, Any]:
    """What a citation needs beyond title, date and author; Chroma keeps scalars only, so the
    page starts and headings go in as JSON."""
    out: dict[str, Any] = {"site": doc.site or "", "url": doc.url or ""}
    if doc.page_starts:
        out["pages"] = json.dumps(list(doc.page_starts))
    if doc.headings:
        out["headings"] = json.dumps([list(h) for h in doc.headings], ensure_ascii=False)
    return out


def _forget_failed_system(path: Path) -> None:
    """Drop Chroma's cached System for ``path`` when no client holds it.

    chromadb 1.5.9 caches one System per folder before starting it, and keeps it when the
    start fails (a read-only or damaged folder): every later client of that folder in this
    process would then fail too, even after the folder is fixed.
    """
    try:
        from chromadb.api.shared_system_client import SharedSystemClient as Shared
    except ImportError:
        return
    key = str(path)
    with Shared._refcount_lock:
        if Shared._identifier_to_refcount.get(key, 0) > 0:
            return
        system = Shared._identifier_to_system.pop(key, None)
    if system is not None:
        try:
            system.stop()
        except Exception:  # it never started; there is nothing to stop
            pass


class ChromaStore:
    """Chroma, embedded in a folder (default) or a server named by URL."""

    def __init__(self, index_dir: Path, url: str | None = None, name: str = "rag") -> None:
        self.where = url or str(index_dir / "chroma")
        self.url = url
        self.index_dir = index_dir
        self.name = name
        self._client: Any = None
        self._cols: dict[str, Any] = {}

    # -- connection -----------------------------------------------------------------------
    def _connect(self, create: bool) -> Any:
        if self._client is not None:
            return self._client
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        # no telemetry: this tool runs behind firewalls and makes no outbound calls
        cs = ChromaSettings(anonymized_telemetry=False, allow_reset=False)
        try:
            if self.url:
                u = urlparse(self.url)
                if u.scheme not in ("http", "https") or not u.hostname:
                    raise InputError(
                        f"RAG_CHROMA_URL must look like http://HOST:PORT. Currently, it is {self.url!r}."
                    )
                self._client = chromadb.HttpClient(
                    host=u.hostname, port=u.port or (443 if u.scheme == "https" else 8000),
                    ssl=u.scheme == "https", settings=cs,
                )
                self._client.heartbeat()
            else:
                path = self.index_dir / "chroma"
                foreign = foreign_folder(self.index_dir)
                if foreign:
                    raise InputError(foreign)
                if not create and not (path / "chroma.sqlite3").is_file():
                    from rag.errors import IndexMissingError

                    raise IndexMissingError(
                        f"no index at {self.index_dir}: run `rag index` first (or pass --index-dir)"
                    )
                path.mkdir(parents=True, exist_ok=True)
                self._client = chromadb.PersistentClient(path=str(path), settings=cs)
        except (InputError, StoreUnavailableError):
            raise
        except Exception as e:  # chromadb raises many types; each becomes one clear message
            from rag.errors import IndexMissingError

            if isinstance(e, IndexMissingError):
                raise
            if not self.url:
                _forget_failed_system(self.index_dir / "chroma")
            raise _wrap(e, self.where) from None
        return self._client

    def _col(self, kind: str, create: bool = False) -> Any:
        if kind in self._cols:
            return self._cols[kind]
        client = self._connect(create)
        name = f"{self.name}-{kind}"
        try:
            if create:
                col = client.get_or_create_collection(
                    name, embedding_function=None,
                    metadata={"hnsw:space": "cosine", "schema": SCHEMA},
                )
            else:
                col = client.get_collection(name, embedding_function=None)
        except Exception as e:
            low = str(e).lower()
            if not create and ("does not exist" in low or "not found" in low):
                from rag.errors import IndexMissingError

                raise IndexMissingError(
                    f"no index named {self.name!r} at {self.where}: run `rag index` first"
                ) from None
            raise _wrap(e, self.where) from None
        if kind != "meta" and (col.metadata or {}).get("schema") != SCHEMA:
            from rag.errors import IndexMissingError

            raise IndexMissingError(
                f"the index {self.name!r} at {self.where} was built by an older version of this "
                "tool: run `rag index` to rebuild it (its documents are embedded again)"
            )
        self._cols[kind] = col
        return col

    def _call(self, fn: Any, *a: Any, **kw: Any) -> Any:
        try:
            return fn(*a, **kw)
        except Exception as e:
            self._cols.clear()
            self._client = None if self.url else self._client
            raise _wrap(e, self.where) from None

    def ensure(self) -> None:
        """Create the collections if they are missing (indexing does this). An index in an
        older layout is dropped first: every document in it must be embedded again anyway."""
        from rag.errors import IndexMissingError

        try:
            for kind in ("docs", "chunks", "meta"):
                self._col(kind, create=True)
        except IndexMissingError:
            self._cols.clear()
            client = self._connect(True)
            names = {c if isinstance(c, str) else c.name for c in self._call(client.list_collections)}
            for kind in ("docs", "chunks", "sentences", "meta"):
                if f"{self.name}-{kind}" in names:
                    self._call(client.delete_collection, f"{self.name}-{kind}")
            for kind in ("docs", "chunks", "meta"):
                self._col(kind, create=True)

    def require_index(self) -> None:
        """Raise ``IndexMissingError``, naming the command to run, when there is no index."""
        self._col("docs")

    def generation(self) -> str | None:
        """A stamp that changes whenever a document is committed or deleted: a reader checks
        it in one small call instead of reading every commit record (seconds at 30k documents).
        None when the index predates the stamp or was never written."""
        try:
            col = self._col("meta")
        except RagError as e:
            if isinstance(e, StoreUnavailableError):
                raise
            return None
        got = self._call(col.get, ids=["generation"], include=["metadatas"])
        return str(got["metadatas"][0]["stamp"]) if got["ids"] else None

    def _bump(self) -> None:
        import uuid

        self._call(
            self._col("meta", create=True).upsert, ids=["generation"], embeddings=[[1.0]],
            documents=[""], metadatas=[{"stamp": uuid.uuid4().hex}],
        )

    # -- reading --------------------------------------------------------------------------
    def documents(self) -> list[DocRecord]:
        col = self._col("docs")
        metas: list[dict[str, Any]] = []
        n = self._call(col.count)
        # in pages: one `get` of more than ~32k records exceeds SQLite's variable limit
        for off in range(0, n, 5000):
            metas.extend(self._call(col.get, include=["metadatas"], limit=5000, offset=off)["metadatas"])
        out = []
        for m in metas:
            out.append(
                DocRecord(
                    source=str(m["source"]), content_hash=str(m["hash"]), title=str(m.get("title", "")),
                    date=str(m["date"]) or None if m.get("date") else None,
                    author=str(m["author"]) if m.get("author") else None,
                    chunks=int(m.get("chunks", 0)), sentences=int(m.get("sentences", 0)),
                    byline=(
                        Byline(int(m["byline_start"]), int(m["byline_end"]), str(m["byline"]))
                        if m.get("byline") else None
                    ),
                    site=str(m["site"]) if m.get("site") else None,
                    url=str(m["url"]) if m.get("url") else None,
                    page_starts=tuple(json.loads(str(m.get("pages") or "[]"))),
                    headings=tuple((int(a), str(t)) for a, t in json.loads(str(m.get("headings") or "[]"))),
                )
            )
        return sorted(out, key=lambda d: d.source)

    def count(self) -> int:
        return int(self._call(self._col("chunks").count))

    def counts(self) -> dict[str, int]:
        """Records per collection: ``{"docs": .., "chunks": ..}``."""
        return {k: int(self._call(self._col(k).count)) for k in ("docs", "chunks")}

    def ids(self, kind: str) -> list[str]:
        """Every record id of one collection ("docs" or "chunks"), in pages."""
        col = self._col(kind)
        out: list[str] = []
        n = self._call(col.count)
        for off in range(0, n, 5000):
            out.extend(self._call(col.get, include=[], limit=5000, offset=off)["ids"])
        return out

    def query(self, vector: np.ndarray, k: int, filters: Filters | None = None) -> list[tuple[str, float]]:
        """Ids and cosine similarities of the ``k`` nearest chunks ``filters`` admit, best first.

        Only ids: a chunk record carries its sentences' vectors and word pieces (~18 KB), and
        of the pool a question searches only the few passages fusion keeps are read
        (``get_chunks``), which
        measured 2.6 ms against 6.4 ms for full records of all 40 at 10k chunks (p50).
        """
        col = self._col("chunks")
        # no count first: Chroma 1.5.9 returns what it has when k exceeds it (none when empty),
        # and in server mode every call is a round trip
        res = self._call(
            col.query, query_embeddings=[vector.tolist()], n_results=k, where=_where(filters),
            include=["distances"],
        )
        return [(cid, 1.0 - float(d)) for cid, d in zip(res["ids"][0], res["distances"][0], strict=True)]

    def matching_chunk_ids(self, filters: Filters) -> set[str]:
        """Ids of the chunks ``filters`` admit (for the lexical side of a filtered search)."""
        where = _where(filters)
        if where is None:
            return set(self.ids("chunks"))
        return set(self._call(self._col("chunks").get, where=where, include=[])["ids"])

    def get_chunks(self, ids: Sequence[str]) -> list[StoredChunk]:
        if not ids:
            return []
        res = self._call(self._col("chunks").get, ids=list(ids), include=["documents", "metadatas"])
        by_id = {
            cid: _chunk(cid, t, m)
            for cid, t, m in zip(res["ids"], res["documents"], res["metadatas"], strict=True)
        }
        return [by_id[i] for i in ids if i in by_id]

    def all_sentences(self) -> dict[str, StoredSentence]:
        """Every stored sentence by id, read from every passage (for tests and the bench:
        answering reads only the passages it needs)."""
        col = self._col("chunks")
        out: dict[str, StoredSentence] = {}
        n = self._call(col.count)
        for off in range(0, n, 1000):
            res = self._call(col.get, include=["documents", "metadatas"], limit=1000, offset=off)
            for cid, text, m in zip(res["ids"], res["documents"], res["metadatas"], strict=True):
                for st in _chunk(cid, text, m).sentences():
                    if st.in_chunk:
                        out.setdefault(st.id, st)
        return out

    def chunk_vectors(self) -> dict[str, np.ndarray]:
        """Every chunk's stored vector by its text (the bench fills a server copy with them
        instead of running the model again)."""
        col = self._col("chunks")
        out: dict[str, np.ndarray] = {}
        n = self._call(col.count)
        for off in range(0, n, 1000):
            res = self._call(col.get, include=["documents", "embeddings"], limit=1000, offset=off)
            for text, vec in zip(res["documents"], res["embeddings"], strict=True):
                out[text] = np.asarray(vec, dtype=np.float32)
        return out

    def all_chunk_texts(self, committed: dict[str, str] | None = None) -> tuple[list[str], list[str]]:
        """Ids and texts of the chunks, sorted by id; with ``committed`` ({source: hash}), only
        those of committed document versions (a half-written or half-deleted one is left out).
        """
        col = self._col("chunks")
        rows: list[tuple[str, str]] = []
        n = self._call(col.count)
        page = 5000
        for off in range(0, n, page):
            res = self._call(col.get, include=["documents", "metadatas"], limit=page, offset=off)
            for cid, text, m in zip(res["ids"], res["documents"], res["metadatas"], strict=True):
                if committed is None or committed.get(str(m["source"])) == m.get("doc_hash"):
                    rows.append((cid, text))
        # sorted, so the embedded folder and a server give the same lexical index
        rows.sort()
        return [r[0] for r in rows], [r[1] for r in rows]

    # -- writing --------------------------------------------------------------------------
    def write_document(
        self, doc: Document, chunks: Sequence[Chunk], chunk_vecs: np.ndarray,
        sentences: Sequence[Sentence], sent_vecs: np.ndarray, chunk_sentences: Sequence[Sequence[str]],
    ) -> None:
        """Write a document's records, then its commit record, then drop its older records."""
        self.write_documents(
            [DocWrite(doc, chunks, chunk_vecs, sentences, sent_vecs, chunk_sentences)],
            replaced=[doc.source],
        )

    def write_documents(self, writes: Sequence[DocWrite], replaced: Iterable[str] = ()) -> None:
        """Write several documents with a few large calls: every chunk and sentence record
        first, then the commit records, then the older records of the ``replaced`` sources.

        A crash before the commit records leaves these versions invisible (and the next
        ``rag index`` writes them again); a crash after leaves them complete.
        """
        if not writes:
            return
        self.ensure()
        chunk_rows: list[tuple[str, list[float] | np.ndarray, str, dict[str, Any]]] = []
        for w in writes:
            doc, date = w.doc, w.doc.date or ""
            at = {s.id: i for i, s in enumerate(w.sentences)}
            for i, c in enumerate(w.chunks):
                sents, b64, toks = _pack_sentences(w, [at[sid] for sid in w.chunk_sentences[i]])
                chunk_rows.append((c.id, w.chunk_vecs[i], c.text, {
                    "source": doc.source, "title": doc.title, "date": date,
                    "date_num": _date_num(doc.date), "start": c.start, "end": c.end,
                    "index": c.index, "doc_hash": doc.content_hash, "sents": sents, "svecs": b64,
                    "stoks": toks,
                }))
        # each record carries ~18 KB (in the 1k bench corpus: sentence vectors 9 KB, their word
        # pieces 8 KB, in base64): smaller batches keep a server's request bodies to a few MB
        for batch in _batches(chunk_rows, 250):
            self._call(
                self._col("chunks").upsert,
                ids=[r[0] for r in batch], embeddings=np.asarray([r[1] for r in batch]),
                documents=[r[2] for r in batch], metadatas=[r[3] for r in batch],
            )
        # the commit records: until they are written, queries ignore these versions' records
        marks = []
        for w in writes:
            vec = w.chunk_vecs.mean(axis=0) if len(w.chunk_vecs) else np.zeros(DIM, dtype=np.float32)
            marks.append((w.doc.doc_id, vec, w.doc.title, {
                "source": w.doc.source, "hash": w.doc.content_hash, "title": w.doc.title,
                "date": w.doc.date or "", "author": w.doc.author or "",
                "chunks": len(w.chunks), "sentences": len(w.sentences),
                **_byline_meta(w.doc.byline), **_citing_meta(w.doc),
            }))
        for batch in _batches(marks, 2000):
            self._call(
                self._col("docs").upsert,
                ids=[m[0] for m in batch], embeddings=np.asarray([m[1] for m in batch]),
                documents=[m[2] for m in batch], metadatas=[m[3] for m in batch],
            )
        self._bump()
        hashes = {w.doc.source: w.doc.content_hash for w in writes}
        for source in replaced:
            if source in hashes:
                self._drop_stale(source, keep_hash=hashes[source])

    def _drop_stale(self, source: str, keep_hash: str | None) -> None:
        where: dict[str, Any] = {"source": source}
        if keep_hash is not None:
            where = {"$and": [{"source": source}, {"doc_hash": {"$ne": keep_hash}}]}
        self._call(self._col("chunks", create=True).delete, where=where)

    def delete_document(self, source: str) -> None:
        """Remove a document: its commit record first, so it vanishes from answers at once."""
        from rag.types import content_id

        self._call(self._col("docs", create=True).delete, ids=[content_id("doc", source)])
        self._bump()
        self._drop_stale(source, keep_hash=None)

    def drop_orphans(self, committed: dict[str, str]) -> int:
        """Delete chunk records of no committed document version (crash leftovers)."""
        col = self._col("chunks", create=True)
        n = self._call(col.count)
        bad: list[str] = []
        for off in range(0, n, 1000):
            res = self._call(col.get, include=["metadatas"], limit=1000, offset=off)
            for rid, m in zip(res["ids"], res["metadatas"], strict=True):
                if committed.get(str(m["source"])) != m.get("doc_hash"):
                    bad.append(rid)
        for batch in _batches(bad, 2000):
            self._call(col.delete, ids=list(batch))
        return len(bad)


def _chunk(cid: str, text: str, meta: dict[str, Any]) -> StoredChunk:
    return StoredChunk(
        id=cid, source=str(meta["source"]), text=text, title=str(meta.get("title", "")),
        date=str(meta["date"]) if meta.get("date") else None, start=int(meta["start"]),
        end=int(meta["end"]), doc_hash=str(meta.get("doc_hash", "")),
        sents_json=str(meta.get("sents", "[]")), sents_b64=str(meta.get("svecs", "")),
        toks_b64=str(meta.get("stoks", "")),
    )


def _pack_sentences(w: DocWrite, rows: list[int]) -> tuple[str, str, str]:
    """A passage's sentences (positions in ``w.sentences``), preceded by the sentence just
    before the passage when there is one, as JSON rows, their vectors and their word pieces
    in base64."""
    if rows and rows[0] > 0:
        rows = [rows[0] - 1, *rows]
        inside = [False] + [True] * (len(rows) - 1)
    else:
        inside = [True] * len(rows)
    out = []
    empty = np.zeros((0, LATE_DIM), np.int8)
    toks = [w.sent_tokens[j] if w.sent_tokens else empty for j in rows]
    for j, flag, t in zip(rows, inside, toks, strict=True):
        s = w.sentences[j]
        out.append([s.id, s.text, s.start, s.end, s.index, s.is_heading, flag, len(t)])
    # float16 halves the record (a 384-d vector is 1 KB in base64) and moves a cosine by
    # about 1e-4; the Q&A set and XQuAD give the same answers as with float32
    vecs = np.ascontiguousarray(w.sent_vecs[rows], dtype=np.float16) if rows else np.zeros((0, DIM), np.float16)
    tok = np.ascontiguousarray(np.concatenate([empty, *toks]), dtype=np.int8)
    return (
        json.dumps(out, ensure_ascii=False),
        base64.b64encode(vecs.tobytes()).decode("ascii"),
        base64.b64encode(tok.tobytes()).decode("ascii"),
    )


def _batches(seq: Iterable[Any], size: int) -> Iterable[list[Any]]:
    batch: list[Any] = []
    for x in seq:
        batch.append(x)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
