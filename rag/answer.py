"""The extractive answerer: score sentences of retrieved passages, pick one to three, cite them,
or abstain when the documents do not answer.

Everything here is pure logic over candidates the retriever hands in; no model, no store.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from rag.lexical import STOPWORDS, normalize_token, tokens
from rag.types import Answer, Citation

ABSTAIN_TEXT = "The documents do not answer this question. The closest passages are listed below, marked as not an answer."


@dataclass(frozen=True)
class Candidate:
    """A sentence of a retrieved passage, with what the answerer needs to score and cite it."""

    id: str
    source: str
    title: str
    date: str | None
    text: str
    start: int
    end: int
    index: int
    vector: np.ndarray
    passage: str
    passage_score: float  # 0..1, the passage's fused retrieval score relative to the best
    heading: bool = False


@dataclass(frozen=True)
class Scored:
    cand: Candidate
    score: float
    cosine: float
    coverage: float
    typed: bool


@dataclass(frozen=True)
class AnswerPolicy:
    """The answerer's knobs, in one place. Calibrated on XQuAD and the dev set, see README."""

    w_cosine: float = 0.55
    w_coverage: float = 0.45
    w_type: float = 0.12
    w_passage: float = 0.05
    keep_ratio: float = 0.93  # a further sentence joins the answer above this share of the best
    max_sentences: int = 3
    min_cosine: float = 0.30  # below both of these, nothing retrieved is about the question
    min_coverage: float = 0.34
    min_score: float = 0.40
    unknown_share: float = 0.5  # this share of question words unseen in the corpus: abstain


# -- what a question asks for ---------------------------------------------------------------
_NUMBER_Q = re.compile(
    r"\bhow (?:many|much|long|old|far|large|big|often)\b|\bwhat (?:percentage|percent|number|share|"
    r"proportion|fraction|amount)\b|\bwhich (?:percentage|number)\b",
    re.I,
)
_DATE_Q = re.compile(
    r"^\W*when\b|\b(?:what|which|in what|on what) (?:year|date|day|month|time|decade|century)\b", re.I
)
_PERSON_Q = re.compile(r"^\W*(?:who|whom)\b|\bwhose\b|\bwho\b", re.I)
_PLACE_Q = re.compile(
    r"^\W*where\b|\b(?:what|which|in which|in what) (?:city|country|countries|region|town|state|"
    r"place|capital|nation|province|continent)\b",
    re.I,
)
_NUMBER_WORDS = (
    r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|"
    r"sixteen|seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety|"
    r"hundred|hundreds|thousand|thousands|million|millions|billion|billions|dozen|dozens|half|"
    r"third|quarter|fifth|single|once|twice|several|first|second"
)
_NUMBER_RE = re.compile(rf"\d|\b(?:{_NUMBER_WORDS})\b", re.I)
_DATE_RE = re.compile(
    r"\b(?:1[0-9]{3}|20[0-9]{2})\b|\b(?:January|February|March|April|May|June|July|August|"
    r"September|October|November|December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\b|"
    r"\b(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|today|yesterday|tomorrow|"
    r"century|decade|ago|since|until|during|after|before)\b",
    re.I,
)
_CAP_RE = re.compile(r"\b[A-Z][\w'’.-]*[A-Za-z]\b|\b[A-Z]\b")


def expected_type(question: str) -> str | None:
    """``number``, ``date``, ``place``, ``person`` or None, from the question's wording."""
    if _NUMBER_Q.search(question):
        return "number"
    if _DATE_Q.search(question):
        return "date"
    if _PLACE_Q.search(question):
        return "place"
    if _PERSON_Q.search(question):
        return "person"
    return None


def _proper_nouns(text: str, skip_first: bool = True) -> set[str]:
    """Capitalised words, the first word of the text left out (it is capitalised anyway)."""
    out = set()
    for m in _CAP_RE.finditer(text):
        if skip_first and m.start() == len(text) - len(text.lstrip(" \"'“‘(")):
            continue
        w = m.group(0).strip(".")
        if w.lower() not in STOPWORDS:
            out.add(normalize_token(w))
    return out


def has_type(kind: str | None, sentence: str, question: str) -> bool:
    """Whether ``sentence`` holds something of the asked-for kind that the question lacks."""
    if kind is None:
        return True
    qtok = set(tokens(question))
    if kind == "number":
        return any(normalize_token(m.group(0)) not in qtok or m.group(0).isdigit()
                   for m in _NUMBER_RE.finditer(sentence))
    if kind == "date":
        return any(m.group(0).lower() not in question.lower() for m in _DATE_RE.finditer(sentence))
    names = _proper_nouns(sentence, skip_first=False) - _proper_nouns(question, skip_first=False) - qtok
    return bool(names)


# -- abstention signals ---------------------------------------------------------------------
def unknown_terms(question: str, knows: Callable[[str], bool]) -> tuple[list[str], float]:
    """Names in the question the corpus never mentions, and the share of all its words unseen."""
    q = tokens(question)
    names = [n for n in _proper_nouns(question) if not knows(n)]
    unseen = [t for t in q if not knows(t)]
    share = len(unseen) / len(q) if q else 1.0
    return names, share


# -- scoring and choosing --------------------------------------------------------------------
def score_candidates(
    question: str,
    qvec: np.ndarray,
    cands: Sequence[Candidate],
    idf: Callable[[str], float],
    policy: AnswerPolicy = AnswerPolicy(),
) -> list[Scored]:
    """Each non-heading candidate scored by meaning, weighted word coverage, answer type."""
    qtoks = set(tokens(question))
    qweight = sum(idf(t) for t in qtoks) or 1.0
    kind = expected_type(question)
    out = []
    for c in cands:
        if c.heading:
            continue
        stoks = set(tokens(c.text))
        coverage = sum(idf(t) for t in qtoks & stoks) / qweight
        cosine = float(np.dot(qvec, c.vector))
        typed = has_type(kind, c.text, question)
        score = (
            policy.w_cosine * cosine
            + policy.w_coverage * coverage
            + (policy.w_type if (typed and kind) else 0.0)
            + policy.w_passage * c.passage_score
        )
        out.append(Scored(c, score, cosine, coverage, typed))
    out.sort(key=lambda s: (-s.score, s.cand.source, s.cand.index))
    return out


_NEEDS_PREV = re.compile(
    r"^\W*(?:he|she|they|it|this|that|these|those|his|her|their|its|such|there|however|but|"
    r"instead|also|meanwhile|additionally|moreover)\b",
    re.I,
)
_SAID_TAIL = re.compile(
    r"[\"”’',]\s*(?:he|she|they|it)\s+(?:said|added|says|stated|declared|noted|told|warned|"
    r"explained|argued|insisted|wrote)\b[^\"”]*$",
    re.I,
)


def needs_previous(sentence: str) -> bool:
    """A sentence that leans on the one before: a pronoun opening, or a quote "he said"."""
    return bool(_NEEDS_PREV.match(sentence) or _SAID_TAIL.search(sentence))


def should_abstain(question: str, ranked: Sequence[Scored], knows: Callable[[str], bool],
                   policy: AnswerPolicy = AnswerPolicy()) -> str | None:
    """Why the documents do not answer, or None when they do. Several signals, not one."""
    if not ranked:
        return "nothing in the index matches the question"
    names, share = unknown_terms(question, knows)
    if names:
        return f"the documents never mention {', '.join(sorted(names))}"
    if share >= policy.unknown_share:
        return "most of the question's words never occur in the documents"
    best = ranked[0]
    if best.cosine < policy.min_cosine and best.coverage < policy.min_coverage:
        return "no passage is about the question"
    if best.score < policy.min_score:
        return "the closest sentences match the question only loosely"
    kind = expected_type(question)
    if kind and not any(s.typed for s in ranked[:3]):
        return f"no matching sentence gives a {kind}"
    return None


def choose(ranked: Sequence[Scored], policy: AnswerPolicy = AnswerPolicy()) -> list[Scored]:
    """The best sentence, plus up to two near-equals (from other places) for fuller answers."""
    if not ranked:
        return []
    best = ranked[0]
    chosen = [best]
    for s in ranked[1:]:
        if len(chosen) >= policy.max_sentences or s.score < best.score * policy.keep_ratio:
            break
        if any(s.cand.text == c.cand.text for c in chosen):
            continue
        chosen.append(s)
    return chosen


def build_answer(
    question: str,
    chosen: Sequence[Scored],
    previous: Callable[[Candidate], Candidate | None],
    abstain_reason: str | None,
    closest: Sequence[Scored] = (),
) -> Answer:
    """Assemble the answer text with ``[n]`` markers, in reading order, and its citations."""
    if abstain_reason is not None:
        cits = tuple(
            _cite(i + 1, s.cand, s.score) for i, s in enumerate(closest[:3])
        )
        return Answer(question, ABSTAIN_TEXT, True, cits)
    picked: dict[str, tuple[Candidate, float]] = {}
    for s in chosen:
        picked.setdefault(s.cand.id, (s.cand, s.score))
        if needs_previous(s.cand.text):
            prev = previous(s.cand)
            if prev is not None and not prev.heading:
                picked.setdefault(prev.id, (prev, s.score))
    # reading order: sources by their best sentence, sentences by position within a source
    rank = {}
    for s in chosen:
        rank.setdefault(s.cand.source, len(rank))
    items = sorted(picked.values(), key=lambda cs: (rank.get(cs[0].source, 99), cs[0].index))
    cits = tuple(_cite(n, c, sc) for n, (c, sc) in enumerate(items, start=1))
    text = " ".join(f"{c.quote} [{c.n}]" for c in cits)
    return Answer(question, text, False, cits)


def _cite(n: int, c: Candidate, score: float) -> Citation:
    return Citation(
        n=n, source=c.source, title=c.title, date=c.date, start=c.start, end=c.end,
        quote=c.text, passage=c.passage, score=float(score),
    )


def fuse(rankings: Sequence[Sequence[str]], k: int = 60) -> list[tuple[str, float]]:
    """Reciprocal rank fusion of several best-first id lists.

    >>> fuse([["a", "b"], ["b", "c"]])[0][0]
    'b'
    """
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, rid in enumerate(ranking):
            scores[rid] = scores.get(rid, 0.0) + 1.0 / (k + rank + 1)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
