"""The one entry point for asking: open an index, ask questions, get cited answers.

>>> from index import open_index
>>> idx = open_index()                                       # doctest: +SKIP
>>> idx.ask("What did Russia reject?").to_dict()["answer"]   # doctest: +SKIP
"""

from __future__ import annotations

import functools
import logging
import threading
import time
import unicodedata
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np

from index.build import lexical_for, open_store, word_vectors_for
from index.store import ChromaStore, DocRecord, StoredChunk, StoredSentence
from rag.answer import Candidate, build_answer
from rag.cite import with_sources
from rag.disagree import flag_disagreement
from rag.embed import Embedder, MiniLMEmbedder, TokenEmbedder
from rag.errors import InputError
from rag.lexical import LexicalIndex, WordVectors, word_forms
from rag.readers import Lookup, Reader, make_reader
from rag.retrieve import Mode, check_mode, fuse
from rag.settings import Settings
from rag.types import Answer, Byline, DocumentInfo, Filters, RankedSentence, Trace

log = logging.getLogger(__name__)

RANKING_KEPT = 10  # sentences of the reader's ranking kept in a trace


# the stages a trace times, in order: the question's vector, nearest chunks in Chroma, BM25,
# reading the kept passages' records (with their sentences), the reader, and the whole
STAGES = ("embed", "dense", "lexical", "fetch", "read", "total")


def clean_question(question: object, limit: int) -> str:
    """The question as asked, with control characters gone; refuses empty and overlong ones."""
    if not isinstance(question, str):
        raise InputError("the question must be text")
    q = "".join(
        ch if unicodedata.category(ch)[0] != "C" or ch in "\n\t" else " " for ch in question
    )
    q = " ".join(q.split())
    if not q:
        raise InputError(
            'the question is empty: type a question, e.g. "Who rejected the ceasefire?"'
        )
    if len(q) > limit:
        raise InputError(
            f"the question is {len(q):,} characters long; the limit is {limit:,} "
            "(RAG_MAX_QUESTION_CHARS). Ask something shorter."
        )
    if not any(ch.isalnum() for ch in q):
        raise InputError(
            'the question has no words in it: ask with words, e.g. "What did Putin propose?"'
        )
    return q


@dataclass(frozen=True)
class Loaded:
    """What questions read besides the store, as of one reading of the committed documents."""

    docs: list[DocRecord]
    lexical: LexicalIndex
    words: WordVectors
    committed: dict[str, str]  # source -> committed version
    bylines: dict[str, Byline]
    info: dict[str, DocumentInfo]  # source -> what citations show


@dataclass
class Index:
    """An open index: a store, the model (loaded on first use), and the lexical index."""

    settings: Settings
    store: ChromaStore
    embedder: Embedder
    refresh_seconds: float = 2.0
    pool_factor: int = 2  # passages searched for sentences, as a multiple of top_k
    _readers: dict[str, Reader] = field(default_factory=dict)
    _readers_lock: threading.Lock = field(default_factory=threading.Lock)
    _loaded: Loaded | None = None
    _checked: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)  # held while reloading
    # the vectors of questions' words the corpus lacks, by the set of such words
    _asked_words: dict[tuple[str, ...], dict[str, np.ndarray]] = field(default_factory=dict)
    _stamp: str | None = None  # the store's generation when the documents were read
    _read_all: float = 0.0  # when every commit record was last read
    full_refresh_seconds: float = 60.0

    # -- state ----------------------------------------------------------------------------
    def refresh(self, force: bool = False) -> None:
        """Pick up documents indexed since (by this process or another), at most every
        ``refresh_seconds``.

        The first load, and a forced one, happen here. Otherwise a due reload runs on a
        thread of its own while the caller (a question) goes on with what is loaded: the BM25
        index and word vectors of a changed corpus take up to seconds to rebuild, and no
        question should wait for them. What a question reads is one snapshot
        (``Loaded``), swapped whole, so it never mixes two versions of the corpus."""
        now = time.monotonic()
        if self._loaded is None or force:
            with self._lock:
                self._reload(now, force)
            return
        if now - self._checked < self.refresh_seconds:
            return
        if not self._lock.acquire(blocking=False):
            return  # a reload is running; it will be picked up when it is done
        self._checked = now  # the next questions do not start another check meanwhile
        try:
            threading.Thread(
                target=self._reload_behind, args=(now,), name="rag-refresh", daemon=True
            ).start()
        except BaseException:  # no thread to hand the lock to
            self._lock.release()
            raise

    def _reload_behind(self, now: float) -> None:
        """``_reload`` for ``refresh``'s background thread, which holds ``_lock`` for it."""
        try:
            self._reload(now, False)
        except Exception as e:  # noqa: BLE001 - the next check tries again; questions go on
            log.warning("reloading the index failed, answering from what was loaded: %s", e)
        finally:
            self._lock.release()

    def _reload(self, now: float, force: bool) -> None:
        """Read the store's state and swap in a new snapshot if documents changed; the
        caller holds ``_lock``."""
        # one small read says whether anything was committed or deleted since; reading
        # every commit record takes seconds at 30k documents. A full read still happens
        # every full_refresh_seconds, for a writer that died between commit and stamp.
        loaded = self._loaded
        stamp = self.store.generation()
        if (
            not force
            and loaded is not None
            and stamp is not None
            and stamp == self._stamp
            and now - self._read_all < self.full_refresh_seconds
        ):
            self._checked = now
            return
        docs = self.store.documents()
        if (
            force
            or loaded is None
            or [(d.source, d.content_hash) for d in docs]
            != [(d.source, d.content_hash) for d in loaded.docs]
        ):
            lexical = lexical_for(self.settings, self.store, docs)
            self._loaded = Loaded(
                docs=docs,
                lexical=lexical,
                words=word_vectors_for(self.settings, lexical, self.embedder),
                committed={d.source: d.content_hash for d in docs},
                bylines={d.source: d.byline for d in docs if d.byline},
                info={d.source: d.info() for d in docs},
            )
        self._stamp, self._read_all, self._checked = stamp, now, now

    def _state(self) -> Loaded:
        """The snapshot after a refresh (the first load happens here)."""
        self.refresh()
        assert self._loaded is not None
        return self._loaded

    def _question_words(self, q: str, words: WordVectors) -> dict[str, np.ndarray]:
        """Vectors of the question's words the corpus lacks, embedded apart from the question
        (a short batch: in the question's batch each would be padded to its length).

        Kept by the whole set of such words, embedded in one order: a word's vector may differ
        in its last bits with the batch it is embedded in, so one kept from another question
        could make an answer's figures depend on what was asked before."""
        new = {t: f for t, f in word_forms([q]).items() if words.get(t) is None}
        key = tuple(sorted(set(new.values())))
        if not key:
            return {}
        vecs = self._asked_words.get(key)
        if vecs is None:
            vecs = dict(zip(key, self.embedder.embed(list(key)), strict=True))
            if len(self._asked_words) > 10_000:
                self._asked_words.clear()  # a bound, not an eviction policy
            self._asked_words[key] = vecs
        return {t: vecs[f] for t, f in new.items()}

    def documents(self) -> list[DocRecord]:
        return list(self._state().docs)

    @property
    def lexical(self) -> LexicalIndex:
        return self._state().lexical

    # -- retrieval ------------------------------------------------------------------------
    def retrieve(
        self,
        question: str,
        k: int | None = None,
        mode: Mode = "hybrid",
        filters: Filters | None = None,
        qvec: np.ndarray | None = None,
        seconds: dict[str, float] | None = None,
    ) -> list[tuple[StoredChunk, float]]:
        """The top ``k`` passages, best first, with fused scores normalised to the best (1.0).

        ``seconds``, when given, receives the time each stage took."""
        return self._retrieve(self._state(), question, k, mode, filters, qvec, seconds)

    def _retrieve(
        self,
        st: Loaded,
        question: str,
        k: int | None,
        mode: Mode,
        filters: Filters | None,
        qvec: np.ndarray | None,
        seconds: dict[str, float] | None,
    ) -> list[tuple[StoredChunk, float]]:
        mode = check_mode(mode)
        if filters == Filters():
            filters = None  # admits everything: no filtered reads
        secs = {} if seconds is None else seconds
        k = k or self.settings.top_k
        t = time.perf_counter()
        pool = max(k * 4, 20)
        dense: list[tuple[str, float]] = []
        if mode in ("hybrid", "dense"):
            if qvec is None:
                qvec = self.embedder.embed([question])[0]
                secs["embed"] = time.perf_counter() - t
            t = time.perf_counter()
            dense = self.store.query(qvec, pool, filters)
            secs["dense"] = time.perf_counter() - t
        t = time.perf_counter()
        lex: list[tuple[str, float]] = []
        if mode in ("hybrid", "lexical"):
            allowed = self.store.matching_chunk_ids(filters) if filters else None
            lex = st.lexical.search(question, pool, allowed)
        secs["lexical"] = time.perf_counter() - t
        fused = fuse([[i for i, _ in dense], [i for i, _ in lex]])
        top = fused[0][1] if fused else 1.0
        out: list[tuple[StoredChunk, float]] = []
        t = time.perf_counter()
        # read the records of the best k; a chunk of a document version that was never
        # committed (a crash) is not shown, and the next ones are read in its place
        at = 0
        while len(out) < k and at < len(fused):
            want = fused[at : at + k - len(out)]
            at += len(want)
            by_id = {c.id: c for c in self.store.get_chunks([i for i, _ in want])}
            for cid, s in want:
                c = by_id.get(cid)
                if c is not None and st.committed.get(c.source) == c.doc_hash:
                    out.append((c, s / top))
        secs["fetch"] = time.perf_counter() - t
        return out

    # -- answering ------------------------------------------------------------------------
    def reader(self, name: str | None = None) -> Reader:
        """The reader called ``name`` (default: the settings'), made once per index."""
        name = name or self.settings.reader
        with self._readers_lock:
            if name not in self._readers:
                self._readers[name] = make_reader(name)
            return self._readers[name]

    def ask(
        self,
        question: str,
        *,
        k: int | None = None,
        mode: Mode = "hybrid",
        filters: Filters | None = None,
        reader: str | Reader | None = None,
        trace: bool = False,
    ) -> Answer:
        """Answer ``question`` with verbatim, cited sentences, or abstain with the closest ones.

        ``reader`` picks what decides ("learned" or "rules"; default: the settings'; or a
        ``Reader`` of the caller's own, as ``python -m eval.fit`` passes one). With
        ``trace=True`` the answer carries a ``Trace``: seconds per stage and the ranking.

        >>> idx.ask("What did Putin demand?", trace=True).trace.seconds["total"]  # doctest: +SKIP
        0.061
        """
        t0 = time.perf_counter()
        q = clean_question(question, self.settings.max_question_chars)
        rd = reader if reader is not None and not isinstance(reader, str) else self.reader(reader)
        secs: dict[str, float] = {}
        st = self._state()
        words = st.words
        # the question's words the corpus lacks are embedded on the other core meanwhile:
        # a model pass costs about as much for four words as for the question
        pending = _words_pool().submit(self._question_words, q, words)
        pieces: np.ndarray | None = None
        if isinstance(self.embedder, TokenEmbedder):
            qvec, pieces = self.embedder.embed_question(q)
        else:
            qvec = self.embedder.embed([q])[0]
        secs["embed"] = time.perf_counter() - t0
        # sentences are drawn from a wider pool than the passages shown: the reader, not the
        # passage ranking, decides what answers
        k = k or self.settings.top_k
        passages = self._retrieve(st, q, k * self.pool_factor, mode, filters, qvec, secs)
        t = time.perf_counter()
        cands, before = _candidates(passages)
        secs["fetch"] = secs.get("fetch", 0.0) + time.perf_counter() - t
        t = time.perf_counter()
        asked = pending.result()
        lex = st.lexical
        look = Lookup(
            idf=lex.idf,
            knows=lex.knows,
            # names may be misspelt in a question ("Ghandi"); other words must match exactly
            knows_name=lex.knows_roughly,
            word_vec=lambda t: asked[t] if t in asked else words.get(t),
            byline=st.bylines.get,
            before=lambda c: before(c, -1),
            question_pieces=pieces,
        )
        d = rd.read(q, qvec, cands, look)
        answer = build_answer(
            q, d.chosen, before, d.reason, closest=d.ranked, confidence=d.confidence
        )
        answer = flag_disagreement(with_sources(answer, st.info), q)
        secs["read"] = time.perf_counter() - t
        secs["total"] = time.perf_counter() - t0
        if not trace:
            return answer
        ranked = tuple(
            RankedSentence(s.cand.source, s.cand.text, round(s.score, 4), s.probability)
            for s in d.ranked[:RANKING_KEPT]
        )
        seconds = {st: secs.get(st, 0.0) for st in STAGES}
        return replace(answer, trace=Trace(rd.name, seconds, ranked))


@functools.cache
def _words_pool() -> ThreadPoolExecutor:
    return ThreadPoolExecutor(max_workers=2, thread_name_prefix="rag-words")


def _candidates(
    passages: list[tuple[StoredChunk, float]],
) -> tuple[list[Candidate], Callable[[Candidate, int], Candidate | None]]:
    """The sentences of ``passages``, each once (under the best passage holding it), and a
    lookup of the sentence just before any of them (every passage carries the one before it,
    so no further read is needed)."""
    out: list[Candidate] = []
    taken: set[str] = set()
    near: dict[tuple[str, int], StoredSentence] = {}
    for rank, (chunk, _) in enumerate(passages):
        score = 1.0 - rank / len(passages)  # fused scores bunch near 1; ranks spread out
        for s in chunk.sentences():
            near.setdefault((s.source, s.index), s)
            if s.in_chunk and s.id not in taken:
                taken.add(s.id)
                out.append(
                    Candidate(
                        id=s.id,
                        source=s.source,
                        title=chunk.title,
                        date=chunk.date,
                        text=s.text,
                        start=s.start,
                        end=s.end,
                        index=s.index,
                        vector=s.vector,
                        passage=chunk.text,
                        passage_score=score,
                        heading=s.heading,
                        tokens=s.tokens,
                    )
                )

    def before(cand: Candidate, delta: int) -> Candidate | None:
        s = near.get((cand.source, cand.index + delta))
        if s is None:
            return None
        return replace(
            cand,
            id=s.id,
            text=s.text,
            start=s.start,
            end=s.end,
            index=s.index,
            vector=s.vector,
            heading=s.heading,
            tokens=s.tokens,
        )

    return out, before


def open_index(settings: Settings | None = None, embedder: Embedder | None = None) -> Index:
    """Open the index ``settings`` name (defaults and ``RAG_*`` variables when None).

    Raises ``IndexMissingError`` with the command to run when there is no index yet.
    """
    settings = settings or Settings.from_env()
    store = open_store(settings)
    store.require_index()  # fail now, with the fix in the message, if there is no index
    idx = Index(settings, store, embedder or MiniLMEmbedder(settings.device, settings.batch_size))
    idx.refresh(force=True)
    return idx
