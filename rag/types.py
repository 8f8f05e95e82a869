"""Frozen records passed between the stages, with content-hash ids and provenance."""

from __future__ import annotations

import hashlib
import re
from bisect import bisect_right
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from rag.errors import InputError


def content_id(*parts: object) -> str:
    """A stable id from content, so re-indexing the same text overwrites the same record."""
    h = hashlib.sha256()
    for part in parts:
        h.update(str(part).encode("utf-8"))
        h.update(b"\x1f")  # separator, so ("ab", "c") and ("a", "bc") differ
    return h.hexdigest()[:32]


@dataclass(frozen=True)
class Span:
    """A run of cleaned text that comes from one contiguous run of the original file."""

    clean_start: int
    orig_start: int
    length: int


def map_range(spans: tuple[Span, ...], clean_start: int, clean_end: int) -> tuple[int, int]:
    """Original ``(start, end)`` of the cleaned half-open range ``[clean_start, clean_end)``."""
    if not spans or clean_end <= clean_start:
        raise ValueError(f"empty range {clean_start}:{clean_end}")
    starts = [s.clean_start for s in spans]

    def orig(pos: int) -> int:
        i = bisect_right(starts, pos) - 1
        s = spans[max(i, 0)]
        return s.orig_start + min(pos - s.clean_start, s.length - 1)

    return orig(clean_start), orig(clean_end - 1) + 1


@dataclass(frozen=True)
class Byline:
    """The line that names a document's author ("Written by Jane Roe on May 2, 2025"): its
    range in the original file and its text with markup dropped, quoted when a question asks
    who wrote the document."""

    start: int
    end: int
    text: str


@dataclass(frozen=True)
class Document:
    """One source file after loading and cleaning.

    ``original`` is the file's text as the loader reads it (the decoded file for .txt, .md
    and .html; the text layer for .pdf): every offset anywhere points into it. ``text`` is
    what remains after cleaning, and ``spans`` map each cleaned character back to it.
    """

    source: str  # path relative to the corpus root, with forward slashes
    original: str
    text: str
    spans: tuple[Span, ...]
    title: str
    date: str | None = None  # YYYY-MM-DD
    author: str | None = None
    content_hash: str = ""
    byline: Byline | None = None
    site: str | None = None  # outlet or publisher
    url: str | None = None  # the document's own address (canonical link, og:url or sidecar)
    # where each page starts in ``original`` (PDF only; empty for documents without pages)
    page_starts: tuple[int, ...] = ()
    # each heading's original start and its text, in order, for a quote's section
    headings: tuple[tuple[int, str], ...] = ()

    @property
    def doc_id(self) -> str:
        return content_id("doc", self.source)

    def to_original(self, clean_start: int, clean_end: int) -> tuple[int, int]:
        """Map a half-open range of cleaned text to the range of the original it came from."""
        return map_range(self.spans, clean_start, clean_end)


@dataclass(frozen=True)
class Sentence:
    """A sentence of a document, verbatim from the cleaned text, with original offsets."""

    source: str
    text: str
    clean_start: int
    clean_end: int
    start: int  # into the original file
    end: int
    index: int  # position of the sentence within its document
    is_heading: bool = False

    @property
    def id(self) -> str:
        return content_id("sent", self.source, self.start, self.end, self.text)


@dataclass(frozen=True)
class Chunk:
    """A passage sized for the embedding model, the unit of retrieval."""

    source: str
    text: str
    clean_start: int
    clean_end: int
    start: int
    end: int
    index: int
    title: str = ""
    date: str | None = None

    @property
    def id(self) -> str:
        return content_id("chunk", self.source, self.start, self.end, self.text)


@dataclass(frozen=True)
class Segmented:
    """A document cut for indexing: its sentences, its chunks, and for each chunk the ids of
    the sentences it overlaps, in order."""

    doc: Document
    sentences: tuple[Sentence, ...]
    chunks: tuple[Chunk, ...]
    chunk_sentences: tuple[tuple[str, ...], ...]


_DAY_RE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _check_day(name: str, value: object) -> None:
    try:
        if not isinstance(value, str) or not _DAY_RE.fullmatch(value):
            raise ValueError
        date.fromisoformat(value)
    except ValueError:
        raise InputError(
            f"{name} must be a date written YYYY-MM-DD, like 2025-03-13. Currently, it is {value!r}."
        ) from None


@dataclass(frozen=True)
class Filters:
    """Limit a search to some sources and/or a date range (YYYY-MM-DD, inclusive).

    Plain data: the store's adapter turns it into the store's own query language. An undated
    document counts as older than any date (``date_to`` admits it, ``date_from`` does not).

    >>> Filters(sources=("a.txt",), date_from="2025-01-01").date_from
    '2025-01-01'
    >>> Filters(date_to="March 2025")
    Traceback (most recent call last):
    rag.errors.InputError: date_to must be a date written YYYY-MM-DD, like 2025-03-13. Currently, it is 'March 2025'.
    """

    sources: tuple[str, ...] = ()
    date_from: str | None = None
    date_to: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.sources, str) or not all(isinstance(s, str) for s in self.sources):
            raise InputError(
                f"sources must be a tuple of file names. Currently, it is {self.sources!r}."
            )
        object.__setattr__(self, "sources", tuple(self.sources))  # a list would not hash
        for name in ("date_from", "date_to"):
            if getattr(self, name) is not None:
                _check_day(name, getattr(self, name))
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise InputError(
                f"the date range is empty: date_from ({self.date_from}) is after date_to "
                f"({self.date_to})."
            )


@dataclass(frozen=True)
class DocumentInfo:
    """What the index keeps of a document for citing it: who, where, when, and the lookups
    that place an offset on a page and under a heading (so no file is read per question)."""

    source: str
    title: str
    date: str | None = None
    author: str | None = None
    site: str | None = None
    url: str | None = None
    page_starts: tuple[int, ...] = ()
    headings: tuple[tuple[int, str], ...] = ()

    def page_of(self, offset: int) -> int | None:
        """The 1-based page holding original offset ``offset``; None without pages.

        >>> DocumentInfo("a.pdf", "A", page_starts=(0, 120, 300)).page_of(150)
        2
        """
        if not self.page_starts:
            return None
        return max(1, bisect_right(self.page_starts, offset))

    def section_of(self, offset: int) -> str | None:
        """The nearest heading that starts before ``offset``; None when there is none."""
        i = bisect_right([h[0] for h in self.headings], offset) - 1
        return self.headings[i][1] if i >= 0 else None


@dataclass(frozen=True)
class Citation:
    """One cited sentence: where it is (file and offsets), what it says, and its passage.

    ``author`` to ``section`` come from the document's record once the answer is assembled
    (``rag.cite.with_sources``); each is None when the document does not give it.
    """

    n: int
    source: str
    title: str
    date: str | None
    start: int
    end: int
    quote: str
    passage: str
    score: float
    # "answer": a sentence that answers; "context": the sentence an answering one leans on
    # (its "he" or "she said"), shown after it; "closest": the nearest text when abstaining
    role: str = "answer"
    probability: float | None = None  # that this sentence answers (learned reader only)
    author: str | None = None
    site: str | None = None
    url: str | None = None
    page: int | None = None  # 1-based page where the quote starts (PDF)
    page_end: int | None = None  # the page where it ends, when that is a later one
    section: str | None = None  # the nearest heading above the quote

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["score"] = round(float(self.score), 4)
        if self.probability is not None:
            d["probability"] = round(float(self.probability), 4)
        return d


@dataclass(frozen=True)
class SourceGroup:
    """One document's side of a disagreement: what its quotes give, and which they are."""

    source: str
    title: str
    date: str | None
    values: tuple[str, ...]
    citations: tuple[int, ...]  # the citation numbers of its quotes


@dataclass(frozen=True)
class Disagreement:
    """Quotes from different documents that give different values of what was asked."""

    kind: str  # "person", "number", "date" or "place"
    notice: str  # one line: "The sources differ: ..."
    groups: tuple[SourceGroup, ...]  # newest document first, undated last

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "notice": self.notice,
            "groups": [
                asdict(g) | {"values": list(g.values), "citations": list(g.citations)}
                for g in self.groups
            ],
        }


@dataclass(frozen=True)
class Answer:
    """The answer to one question: verbatim sentences with markers, or an abstention."""

    question: str
    answer: str
    abstained: bool
    citations: tuple[Citation, ...] = field(default_factory=tuple)
    # the probability that the first quote answers (abstaining: that the best sentence found
    # would have); None from a reader without a calibrated probability
    confidence: float | None = None
    abstain_reason: str | None = None
    trace: Trace | None = None  # only when asked for: ``Index.ask(..., trace=True)``
    disagreement: Disagreement | None = None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "question": self.question,
            "answer": self.answer,
            "abstained": self.abstained,
            "confidence": None if self.confidence is None else round(float(self.confidence), 4),
            "abstain_reason": self.abstain_reason,
            "citations": [c.to_dict() for c in self.citations],
            "disagreement": self.disagreement.to_dict() if self.disagreement else None,
        }
        if self.trace is not None:
            d["trace"] = self.trace.to_dict()
        return d


@dataclass(frozen=True)
class RankedSentence:
    """One sentence as the reader ranked it (for diagnostics: ``rag eval``, the benchmark)."""

    source: str
    text: str
    score: float
    probability: float | None


@dataclass(frozen=True)
class Trace:
    """How one answer was made: seconds per stage and the reader's ranking, best first."""

    reader: str
    seconds: dict[str, float]
    ranked: tuple[RankedSentence, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "reader": self.reader,
            "seconds": {k: round(v, 5) for k, v in self.seconds.items()},
            "ranked": [asdict(r) for r in self.ranked],
        }
