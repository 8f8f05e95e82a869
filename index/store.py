"""The Chroma adapter: the only module that imports chromadb.

Three collections per index: ``<name>-docs`` (one record per committed document, written
last, so a document is visible only once all its records are in), ``<name>-chunks`` and
``<name>-sentences`` (vectors computed at indexing time).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlparse

import numpy as np

from rag.errors import IndexCorruptError, InputError, StoreUnavailableError
from rag.types import Chunk, Document, Sentence

SCHEMA = 1


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
    sentence_ids: tuple[str, ...]


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


class VectorStore(Protocol):
    def documents(self) -> list[DocRecord]: ...
    def write_document(
        self, doc: Document, chunks: Sequence[Chunk], chunk_vecs: np.ndarray,
        sentences: Sequence[Sentence], sent_vecs: np.ndarray, chunk_sentences: Sequence[Sequence[str]],
    ) -> None: ...
    def delete_document(self, source: str) -> None: ...
    def query(self, vector: np.ndarray, k: int, where: dict[str, Any] | None = None) -> list[tuple[StoredChunk, float]]: ...
    def get_chunks(self, ids: Sequence[str]) -> list[StoredChunk]: ...
    def get_sentences(self, ids: Sequence[str]) -> list[StoredSentence]: ...
    def all_chunk_texts(self) -> tuple[list[str], list[str]]: ...


def _date_num(date: str | None) -> int:
    return int(date.replace("-", "")) if date else 0


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
        return IndexCorruptError(f"the index at {where} cannot be written ({text[:160]}); check its permissions")
    if "disk" in low and "full" in low or "no space" in low:
        return IndexCorruptError(f"the disk holding {where} is full ({text[:120]}); free space and rerun")
    return IndexCorruptError(f"the index at {where} could not be used ({text[:200]})")


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
        """Create the collections if they are missing (indexing does this)."""
        for kind in ("docs", "chunks", "sentences"):
            self._col(kind, create=True)

    # -- reading --------------------------------------------------------------------------
    def documents(self) -> list[DocRecord]:
        got = self._call(self._col("docs").get, include=["metadatas"])
        out = []
        for m in got["metadatas"] or []:
            out.append(
                DocRecord(
                    source=str(m["source"]), content_hash=str(m["hash"]), title=str(m.get("title", "")),
                    date=str(m["date"]) or None if m.get("date") else None,
                    author=str(m["author"]) if m.get("author") else None,
                    chunks=int(m.get("chunks", 0)), sentences=int(m.get("sentences", 0)),
                )
            )
        return sorted(out, key=lambda d: d.source)

    def count(self) -> int:
        return int(self._call(self._col("chunks").count))

    def query(self, vector: np.ndarray, k: int, where: dict[str, Any] | None = None) -> list[tuple[StoredChunk, float]]:
        col = self._col("chunks")
        n = self._call(col.count)
        if n == 0:
            return []
        res = self._call(
            col.query, query_embeddings=[vector.tolist()], n_results=min(k, n), where=where or None,
            include=["documents", "metadatas", "distances"],
        )
        out = []
        for cid, text, meta, dist in zip(
            res["ids"][0], res["documents"][0], res["metadatas"][0], res["distances"][0], strict=True
        ):
            out.append((_chunk(cid, text, meta), 1.0 - float(dist)))
        return out

    def get_chunks(self, ids: Sequence[str]) -> list[StoredChunk]:
        if not ids:
            return []
        res = self._call(self._col("chunks").get, ids=list(ids), include=["documents", "metadatas"])
        by_id = {
            cid: _chunk(cid, t, m)
            for cid, t, m in zip(res["ids"], res["documents"], res["metadatas"], strict=True)
        }
        return [by_id[i] for i in ids if i in by_id]

    def get_sentences(self, ids: Sequence[str]) -> list[StoredSentence]:
        if not ids:
            return []
        res = self._call(
            self._col("sentences").get, ids=list(ids), include=["documents", "metadatas", "embeddings"]
        )
        out = []
        for sid, t, m, v in zip(res["ids"], res["documents"], res["metadatas"], res["embeddings"], strict=True):
            out.append(
                StoredSentence(
                    id=sid, source=str(m["source"]), text=t, start=int(m["start"]), end=int(m["end"]),
                    index=int(m["index"]), heading=bool(m.get("heading", False)),
                    vector=np.asarray(v, dtype=np.float32),
                )
            )
        return out

    def all_chunk_texts(self) -> tuple[list[str], list[str]]:
        col = self._col("chunks")
        ids: list[str] = []
        texts: list[str] = []
        n = self._call(col.count)
        page = 5000
        for off in range(0, n, page):
            res = self._call(col.get, include=["documents"], limit=page, offset=off)
            ids.extend(res["ids"])
            texts.extend(res["documents"])
        return ids, texts

    # -- writing --------------------------------------------------------------------------
    def write_document(
        self, doc: Document, chunks: Sequence[Chunk], chunk_vecs: np.ndarray,
        sentences: Sequence[Sentence], sent_vecs: np.ndarray, chunk_sentences: Sequence[Sequence[str]],
    ) -> None:
        """Write a document's records, then its commit record, then drop its older records."""
        self.ensure()
        date = doc.date or ""
        for batch in _batches(range(len(sentences)), 2000):
            self._call(
                self._col("sentences").upsert,
                ids=[sentences[i].id for i in batch],
                embeddings=sent_vecs[batch[0] : batch[-1] + 1],
                documents=[sentences[i].text for i in batch],
                metadatas=[
                    {
                        "source": doc.source, "start": sentences[i].start, "end": sentences[i].end,
                        "index": sentences[i].index, "heading": sentences[i].is_heading,
                        "doc_hash": doc.content_hash,
                    }
                    for i in batch
                ],
            )
        for batch in _batches(range(len(chunks)), 2000):
            self._call(
                self._col("chunks").upsert,
                ids=[chunks[i].id for i in batch],
                embeddings=chunk_vecs[batch[0] : batch[-1] + 1],
                documents=[chunks[i].text for i in batch],
                metadatas=[
                    {
                        "source": doc.source, "title": doc.title, "date": date,
                        "date_num": _date_num(doc.date), "start": chunks[i].start, "end": chunks[i].end,
                        "index": chunks[i].index, "doc_hash": doc.content_hash,
                        "sentences": ",".join(chunk_sentences[i]),
                    }
                    for i in batch
                ],
            )
        # the commit record: until it is written, queries ignore this version's records
        vec = chunk_vecs.mean(axis=0) if len(chunk_vecs) else np.zeros(384, dtype=np.float32)
        self._call(
            self._col("docs").upsert,
            ids=[doc.doc_id], embeddings=[vec.tolist()], documents=[doc.title],
            metadatas=[{
                "source": doc.source, "hash": doc.content_hash, "title": doc.title, "date": date,
                "author": doc.author or "", "chunks": len(chunks), "sentences": len(sentences),
            }],
        )
        self._drop_stale(doc.source, keep_hash=doc.content_hash)

    def _drop_stale(self, source: str, keep_hash: str | None) -> None:
        where: dict[str, Any] = {"source": source}
        if keep_hash is not None:
            where = {"$and": [{"source": source}, {"doc_hash": {"$ne": keep_hash}}]}
        for kind in ("chunks", "sentences"):
            self._call(self._col(kind, create=True).delete, where=where)

    def delete_document(self, source: str) -> None:
        """Remove a document: its commit record first, so it vanishes from answers at once."""
        from rag.types import content_id

        self._call(self._col("docs", create=True).delete, ids=[content_id("doc", source)])
        self._drop_stale(source, keep_hash=None)

    def drop_orphans(self, committed: dict[str, str]) -> int:
        """Delete chunk and sentence records of no committed document version (crash leftovers)."""
        removed = 0
        for kind in ("chunks", "sentences"):
            col = self._col(kind, create=True)
            n = self._call(col.count)
            bad: list[str] = []
            for off in range(0, n, 5000):
                res = self._call(col.get, include=["metadatas"], limit=5000, offset=off)
                for rid, m in zip(res["ids"], res["metadatas"], strict=True):
                    if committed.get(str(m["source"])) != m.get("doc_hash"):
                        bad.append(rid)
            for batch in _batches(bad, 2000):
                self._call(col.delete, ids=list(batch))
            removed += len(bad)
        return removed


def _chunk(cid: str, text: str, meta: dict[str, Any]) -> StoredChunk:
    sents = str(meta.get("sentences", ""))
    return StoredChunk(
        id=cid, source=str(meta["source"]), text=text, title=str(meta.get("title", "")),
        date=str(meta["date"]) if meta.get("date") else None, start=int(meta["start"]),
        end=int(meta["end"]), doc_hash=str(meta.get("doc_hash", "")),
        sentence_ids=tuple(s for s in sents.split(",") if s),
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


def sentence_at(store: ChromaStore, source: str, doc_hash: str, index: int) -> StoredSentence | None:
    """The sentence at position ``index`` of a committed document version, if any."""
    if index < 0:
        return None
    col = store._col("sentences")
    res = store._call(
        col.get,
        where={"$and": [{"source": source}, {"doc_hash": doc_hash}, {"index": index}]},
        include=["documents", "metadatas", "embeddings"],
        limit=1,
    )
    if not res["ids"]:
        return None
    m = res["metadatas"][0]
    return StoredSentence(
        id=res["ids"][0], source=source, text=res["documents"][0], start=int(m["start"]),
        end=int(m["end"]), index=int(m["index"]), heading=bool(m.get("heading", False)),
        vector=np.asarray(res["embeddings"][0], dtype=np.float32),
    )


def matching_chunk_ids(store: ChromaStore, where: dict[str, Any]) -> set[str]:
    """Ids of the chunks a metadata filter admits (for the lexical side of a filtered search)."""
    res = store._call(store._col("chunks").get, where=where, include=[])
    return set(res["ids"])
