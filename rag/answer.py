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
from rag.types import Answer, Byline, Citation

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
    tokens: np.ndarray | None = None  # its word pieces for late interaction (rag/late.py)


@dataclass(frozen=True)
class Scored:
    cand: Candidate
    score: float
    cosine: float
    coverage: float
    typed: bool  # gives what the question asks for: its kind, or the whole question and more
    probability: float | None = None  # that it answers, from a reader that knows (learned)
    # the other signals of the score, kept for a reader that weighs them itself (learned)
    context: float = 0.0  # question words only the sentence before gives, weighted
    reason: bool = False  # a "why" question, and the sentence gives a cause in so many words
    dated: bool = False  # the question's month or year matches the document's date or words


@dataclass(frozen=True)
class AnswerPolicy:
    """The rule reader's knobs, in one place. They were set by hand while reading failures of
    the measuring sets (XQuAD, eval/qa.jsonl), which is why the learned reader is the default.
    The learned reader uses the signals ``score_candidates`` computes, never these weights or
    thresholds: its own are fitted on SQuAD-shifts (rag/features.py)."""

    w_cosine: float = 0.55
    w_coverage: float = 0.6
    # question words that only the sentence before gives (its subject, when the sentence says
    # "He ..." or "The company ..."): they count at this weight instead of w_coverage
    w_context: float = 0.42
    w_type: float = 0.12
    w_passage: float = 0.15
    w_date: float = 0.06  # the question's month or year matches the document's date
    keep_ratio: float = 0.89  # a further sentence joins the answer above this share of the best
    max_sentences: int = 3
    min_cosine: float = 0.40  # below both of these, nothing retrieved is about the question
    floor_cosine: float = 0.20  # below this alone, too: shared words, unrelated meaning
    min_coverage: float = 0.30
    min_score: float = 0.48
    # a question word the sentence lacks still counts, at the two words' similarity, when a
    # word of the sentence is at least this near to it in meaning ("troops" for "soldiers")
    near_word: float = 0.7
    typed_ratio: float = 0.9  # the best sentence of the asked kind vs the best of any kind
    # a sentence that says this share of the question's words, and more besides, answers it
    # even when the answer is not of the asked kind ("Where ... done?" "... done in committee.")
    restates: float = 0.8
    # dates are everywhere in news: for "when", a dated sentence covering less than this share
    # of the question's words dates something else
    min_date_coverage: float = 0.2
    unknown_share: float = 0.75  # this share of question words unseen in the corpus: abstain


# -- what a question asks for ---------------------------------------------------------------
_NUMBER_Q = re.compile(
    r"\bhow (?:many|much|long|old|far|large|big|often)\b|\bwhat (?:percentage|percent|number|share|"
    r"proportion|fraction|amount)\b|\bwhich (?:percentage|number)\b",
    re.I,
)
_DATE_Q = re.compile(
    r"^\W*when\b|\b(?:what|which|in what|on what) (?:year|date|day|month|time|decade|century)\b",
    re.I,
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
    r"third|quarter|fifth|single|once|twice|several|first|second|none|zero"
)
_NUMBER_RE = re.compile(rf"\d|\b(?:{_NUMBER_WORDS})\b", re.I)
_DATE_RE = re.compile(
    r"\b(?:1[0-9]{3}|20[0-9]{2})s?\b|\b\d[\d,]*\s?(?:BP|BCE|BC|AD|CE)\b|"
    r"\b\d{1,2}(?:st|nd|rd|th)(?=[\s-]+centur)|\b(?:January|February|March|April|May|June|July|August|"
    r"September|October|November|December|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)\b|"
    r"\b(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday|today|yesterday|tomorrow|"
    r"century|decade|ago)\b",
    re.I,
)
_MONTH_NAMES = (
    "january february march april may june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec"
).split()
_TEMPORAL = frozenset(
    _MONTH_NAMES + "monday tuesday wednesday thursday friday saturday sunday".split()
)
_YEAR_RE = re.compile(r"^(?:1[5-9]|20)\d\d$")


def is_temporal(tok: str) -> bool:
    """Month and day names and years: they anchor a question in time, not in a sentence."""
    return tok in _TEMPORAL or bool(_YEAR_RE.match(tok))


_CAP_RE = re.compile(r"\b[A-Z][\w'’.-]*[A-Za-z]\b|\b[A-Z]\b")


# "When many are arrested, what ...?": a leading "when" clause sets the scene; the question is
# the clause after it
_LEADING_WHEN = re.compile(
    r"^\W*when\b[^?,]*,\s*(?=(?:what|which|who|whom|whose|where|how|why)\b)", re.I
)


def expected_type(question: str) -> str | None:
    """``number``, ``date``, ``place``, ``person`` or None, from the question's wording."""
    if m := _LEADING_WHEN.match(question):
        question = question[m.end() :]
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


_HOW_MANY = re.compile(r"\bhow many\s+([\w'’ -]+)", re.I)
_NUM_TOKEN = re.compile(rf"^(?:[~\d.,%$€£–-]*\d[\d.,%–-]*|{_NUMBER_WORDS})$", re.I)
_TIMES = frozenset({"once", "twice", "thrice"})  # a count of times without the word "times"


_YEAR_IN_TEXT = re.compile(
    r"\b(?:in|since|by|until|of|from|early|late|mid-?)\s+(?:1[89]|20)\d\d\b", re.I
)


def _is_number(word: str) -> bool:
    w = word.strip(".,")
    return bool(_NUM_TOKEN.match(w)) or any(_NUM_TOKEN.match(p) for p in re.split("[-–]", w) if p)


def _counts_asked_thing(sentence: str, question: str, qtok: set[str]) -> bool:
    """A number in the sentence; for "how many X", one that counts X (X's words close by)."""
    from rag.clean import DATE_RE

    # a date's digits do not count anything
    sentence = _YEAR_IN_TEXT.sub(" ", DATE_RE.sub(" ", sentence))
    words = re.findall(r"[\w$€£%.,'’-]+", sentence)
    nums = [
        i
        for i, w in enumerate(words)
        if _is_number(w)
        and (any(ch.isdigit() for ch in w) or normalize_token(w.strip(".,")) not in qtok)
    ]
    if not nums:
        return False
    m = _HOW_MANY.search(question)
    if not m:
        return True
    phrase: list[str] = []
    named: set[str] = set()  # capitalised modifiers ("Russian" soldiers): the count must have them
    for w in m.group(1).split():
        t = w.lower().strip("'’")
        if t in STOPWORDS or len(phrase) == 3:
            break
        phrase.extend(tokens(w))
        if w[:1].isupper():
            named.update(tokens(w))
    if not phrase:
        return True
    need = min(2, len(phrase))
    if phrase[0] == normalize_token("times") and any(
        words[i].lower().strip(".,") in _TIMES for i in nums
    ):
        return True
    near = [{normalize_token(w.strip(".,'’")) for w in words[max(0, i - 5) : i + 6]} for i in nums]
    if any(sum(t in n for t in phrase) >= need for n in near):
        return True
    # the phrase's last word is its head ("how many musical instruments": instruments); a number
    # right before the head counts it ("35 instruments", "a 5-cylinder engine"), but not one
    # with another modifier between ("400 Ukrainian soldiers" for "how many Russian soldiers")
    head = phrase[-1]
    for i, n in zip(nums, near, strict=True):
        if not (named - {head}) <= n:
            continue
        parts = words[i].split("-")
        nxt = words[i + 1] if i + 1 < len(words) else ""
        if (
            normalize_token(parts[-1].strip(".,'’")) == head
            or normalize_token(nxt.strip(".,'’")) == head
        ):
            return True
    return False


# "When ...?" is often answered by an event rather than a date: "when the immune system is
# less active", "at the end of World War I", "after the war"
_TEMPORAL_CLAUSE = re.compile(
    r"\b(?:when|after|before|during|until|since|following|(?:end|beginning|start|time) of)\b", re.I
)


def has_type(kind: str | None, sentence: str, question: str) -> bool:
    """Whether ``sentence`` holds something of the asked-for kind that the question lacks."""
    if kind is None:
        return True
    qtok = set(tokens(question))
    if kind == "number":
        return _counts_asked_thing(sentence, question, qtok)
    if kind == "date":
        return any(
            m.group(0).lower() not in question.lower() for m in _DATE_RE.finditer(sentence)
        ) or bool(_TEMPORAL_CLAUSE.search(sentence))
    names = (
        _proper_nouns(sentence, skip_first=False) - _proper_nouns(question, skip_first=False) - qtok
    )
    return bool(names)


# -- abstention signals ---------------------------------------------------------------------
def _question_names(question: str) -> list[tuple[str, list[str]]]:
    """The question's capitalised words (not its first, not acronyms, not month or day names),
    each with its tokens."""
    out = []
    for m in _CAP_RE.finditer(question):
        if m.start() == len(question) - len(question.lstrip(" \"'“‘(")):
            continue  # the first word is capitalised anyway
        word = re.sub(r"['’]s$", "", m.group(0)).strip(".'’")
        if word.isupper() and len(word) <= 5:
            continue  # an acronym may stand for words the corpus spells out ("UMC")
        toks = [t for t in tokens(word) if not is_temporal(t)]
        if toks:
            out.append((word, toks))
    return out


_ACRONYM = re.compile(r"\b[A-Z]{2,5}\b")
_ROMAN = re.compile(r"^[IVXLCDM]+$")
_FILLERS = frozenset({"of", "the", "and", "for", "&", "de"})


def spells_out(acronym: str, text: str) -> bool:
    """Whether ``text`` writes ``acronym`` out: capitalised words with its initials in a row
    ("American Broadcasting Company" for "ABC"; "of", "the", "and" between them skipped)."""
    words = [w for w in re.findall(r"[\w'’&-]+", text) if w.lower() not in _FILLERS]
    return acronym in "".join(w[0] if w[0].isupper() else " " for w in words)


def names_not_retrieved(
    question: str, ranked: Sequence[Scored], knows: Callable[[str], bool]
) -> list[str]:
    """Names of the question the corpus has, and acronyms, that no retrieved passage mentions:
    the passages found are about something else. A word sharing its first five letters counts
    as mentioned ("American" for "America"), and so does an acronym written out."""
    texts = {f"{s.cand.title} {s.cand.passage}" for s in ranked}
    seen: set[str] = set()
    for text in texts:
        seen.update(tokens(text))
    stems = {t[:5] for t in seen if len(t) >= 5}
    names = [
        word
        for word, toks in _question_names(question)
        if all(knows(t) for t in toks)
        and not any(t in seen or (len(t) >= 5 and t[:5] in stems) for t in toks)
    ]
    acronyms = [a for a in dict.fromkeys(_ACRONYM.findall(question)) if not _ROMAN.match(a)]
    if acronyms:
        written = {w.lower() for text in texts for w in re.findall(r"\w+", text)}
        acronyms = [
            a
            for a in acronyms
            if a.lower() not in written and not any(spells_out(a, text) for text in texts)
        ]
    return names + acronyms


def unknown_terms(
    question: str, knows: Callable[[str], bool], knows_name: Callable[[str], bool] | None = None
) -> tuple[list[str], float]:
    """Names in the question the corpus never mentions, and the share of all its words unseen."""
    q = tokens(question)
    names = [
        word
        for word, toks in _question_names(question)
        if not all((knows_name or knows)(t) for t in toks)
    ]
    unseen = [t for t in q if not knows(t)]
    share = len(unseen) / len(q) if q else 1.0
    return names, share


# -- scoring and choosing --------------------------------------------------------------------
_SUBORDINATE = re.compile(
    r"\b(?:when|after|before|while|whereas|because|since|until|if|once|following)\b", re.I
)


def focus_weights(question: str) -> dict[str, float]:
    """Words of a trailing subordinate clause ("... when he dismissed the truce") set the
    scene; the answer sentence is found by the main clause, so they weigh half."""
    m = None
    for m in _SUBORDINATE.finditer(question):
        if len(question[: m.start()].split()) >= 3:
            break
    else:
        return {}
    main = set(tokens(question[: m.start()]))
    return {t: 0.5 for t in tokens(question[m.start() :]) if t not in main}


WordVec = Callable[[str], "np.ndarray | None"]


def near_words(
    qtoks: Sequence[str],
    sentences: dict[str, set[str]],
    word_vec: WordVec | None,
    threshold: float,
) -> dict[str, dict[str, float]]:
    """For each sentence id, the question words it lacks but has a word near in meaning to,
    with that similarity (the best of its words, when at least ``threshold``)."""
    if word_vec is None:
        return {}
    qv = [(t, v) for t in qtoks if (v := word_vec(t)) is not None]
    vocab = sorted({t for toks in sentences.values() for t in toks})
    sv = [(t, v) for t in vocab if (v := word_vec(t)) is not None]
    if not qv or not sv:
        return {}
    col = {t: i for i, (t, _) in enumerate(sv)}
    sims = np.stack([v for _, v in qv]) @ np.stack([v for _, v in sv]).T
    out: dict[str, dict[str, float]] = {}
    for sid, toks in sentences.items():
        cols = [col[t] for t in toks if t in col]
        if not cols:
            continue
        best = sims[:, cols].max(axis=1)
        near = {
            t: float(b)
            for (t, _), b in zip(qv, best, strict=True)
            if b >= threshold and t not in toks
        }
        if near:
            out[sid] = near
    return out


def score_candidates(
    question: str,
    qvec: np.ndarray,
    cands: Sequence[Candidate],
    idf: Callable[[str], float],
    policy: AnswerPolicy = AnswerPolicy(),
    word_vec: WordVec | None = None,
) -> list[Scored]:
    """Each non-heading candidate scored by meaning, weighted word coverage, answer type.

    ``word_vec`` gives a word's vector by token; with it, a question word the sentence words
    differently counts toward coverage at the two words' similarity."""
    all_q = set(tokens(question))
    qtoks = {t for t in all_q if not is_temporal(t)}
    when = {t for t in all_q if is_temporal(t)}
    focus = focus_weights(question)

    def w(t: str) -> float:
        return idf(t) * focus.get(t, 1.0)

    qweight = sum(w(t) for t in qtoks) or 1.0
    kind = expected_type(question)
    at = {(c.source, c.index): c for c in cands}
    words = {c.id: set(tokens(c.text)) for c in cands}  # each sentence tokenised once
    near = near_words(
        sorted(qtoks),
        {c.id: words[c.id] for c in cands if not c.heading},
        word_vec,
        policy.near_word,
    )
    out = []
    for c in cands:
        if c.heading:
            continue
        stoks = words[c.id]
        coverage = sum(w(t) for t in qtoks & stoks) / qweight
        coverage += sum(w(t) * sim for t, sim in near.get(c.id, {}).items()) / qweight
        prev = at.get((c.source, c.index - 1))
        context = 0.0
        if prev is not None:
            context = sum(w(t) for t in (qtoks & words[prev.id]) - stoks) / qweight
        cosine = float(np.dot(qvec, c.vector))
        typed = has_type(kind, c.text, question)
        reason = gives_reason(question, c.text)
        dated = bool(when) and _dated_like(c, when)
        score = (
            policy.w_cosine * cosine
            + policy.w_coverage * coverage
            + policy.w_context * context
            + (policy.w_type if (typed and kind) or reason else 0.0)
            + policy.w_passage * c.passage_score
            + (policy.w_date if dated else 0.0)
        )
        restated = bool(kind) and coverage >= policy.restates and bool(stoks - all_q)
        out.append(
            Scored(c, score, cosine, coverage, typed or restated, None, context, reason, dated)
        )
    out.sort(key=lambda s: (-s.score, s.cand.source, s.cand.index))
    return out


_WHY_Q = re.compile(r"^\W*why\b|\bfor what reason\b", re.I)
# how a sentence gives a reason: a cause, a purpose, a fear or an argument
_CAUSAL = re.compile(
    r"\b(?:because|due to|owing to|as a result|so that|in order to|so as to|fear(?:s|ed|ing)?|"
    r"citing|arguing|argued|reason|caus(?:e|ed|es|ing)|led to|lead to|result(?:ed|s)? in|"
    r"therefore|thus|aim(?:s|ed)? (?:to|at)|intended to|meant to|would (?:allow|give|provide|let))\b",
    re.I,
)


def gives_reason(question: str, sentence: str) -> bool:
    """For a "why" question: whether the sentence gives a cause or purpose in so many words.
    A bonus only: a reason can be given without any of these words."""
    return bool(_WHY_Q.search(question) and _CAUSAL.search(sentence))


def _dated_like(c: Candidate, when: set[str]) -> bool:
    """Whether the candidate's document date or its own words match the question's time words."""
    from rag.lexical import date_words

    have = set(tokens(f"{date_words(c.date)} {c.text}"))
    return bool(when & have)


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


_ATTRIBUTE_Q = re.compile(
    r"^\W*(?:what|who|which)\s+(?:is|was|are|were)\s+(?:the\s+|a\s+|an\s+)?"
    r"(?:[\w-]+(?:'s|’s)\s+)?(?:[\w-]+\s+)?(?P<head>[a-z][\w-]*)\s*(?:of\b|for\b|\?|$)",
    re.I,
)


# names and kinds of things, values and words for words: the text gives them without the word
# itself ("X, the Y"; "19.3%"; "often abbreviated as cpDNA")
_IMPLICIT_ATTRIBUTES = frozenset(
    normalize_token(w)
    for w in (
        "name names nickname title term word phrase type kind percentage percent proportion "
        "number amount synonym abbreviation acronym"
    ).split()
)


def asked_attribute(question: str) -> str | None:
    """The attribute a "what is the X of Y" / "who is Y's X" question asks for, folded.

    >>> asked_attribute("What is the population of Springfield?")
    'population'
    """
    m = _ATTRIBUTE_Q.match(question.strip())
    if not m:
        return None
    toks = tokens(m.group("head"))
    # names and kinds of things are given by the text without the word itself ("X, the Y")
    if not toks or toks[0] in _IMPLICIT_ATTRIBUTES:
        return None
    return toks[0]


def should_abstain(
    question: str,
    ranked: Sequence[Scored],
    knows: Callable[[str], bool],
    policy: AnswerPolicy = AnswerPolicy(),
    knows_name: Callable[[str], bool] | None = None,
) -> str | None:
    """Why the documents do not answer, or None when they do. Several signals, not one."""
    if not ranked:
        return "nothing in the index matches the question"
    names, share = unknown_terms(question, knows, knows_name)
    if names:
        return f"the documents never mention {', '.join(sorted(names))}"
    absent = names_not_retrieved(question, ranked, knows)
    if absent:
        return f"no passage found mentions {', '.join(sorted(absent))}"
    if share >= policy.unknown_share:
        return "most of the question's words never occur in the documents"
    head = asked_attribute(question)
    if head and not knows(head):
        return f"the documents never mention a {head}"
    kind = expected_type(question)
    if kind:
        typed = [s for s in ranked if s.typed]
        if not typed or typed[0].score < policy.typed_ratio * max(s.score for s in ranked):
            # the sentences about the question do not give what it asks for
            return f"no matching sentence gives a {kind}"
        ranked = typed
    best = ranked[0]
    if kind == "date" and best.coverage < policy.min_date_coverage:
        return "no sentence dates what the question asks about"
    if best.cosine < policy.floor_cosine or (
        best.cosine < policy.min_cosine and best.coverage < policy.min_coverage
    ):
        return "no passage is about the question"
    if best.score < policy.min_score:
        return "the closest sentences match the question only loosely"
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
        if best.typed and not s.typed:
            break
        chosen.append(s)
    return chosen


_DOC = r"(?:article|story|report|piece|post|column|op-ed|editorial|news item)"
_AUTHOR_Q = re.compile(
    rf"\bwho\s+(?:wrote|authored|penned|filed|reported)\s+(?:the|this|that)\s+(?:[\w-]+\s+)?{_DOC}\b|"
    rf"\b(?:author|writer|reporter|byline)\s+of\s+(?:the|this|that)\s+(?:[\w-]+\s+)?{_DOC}\b|"
    rf"\b{_DOC}\b[^?]*?\b(?:written|authored|penned)\s+by\s+whom\b|"
    rf"\bwho\s+(?:is|was)\s+the\s+(?:author|writer|reporter)\b",
    re.I,
)


def asks_author(question: str) -> bool:
    """Whether the question asks who wrote a document ("Who wrote the article ...?"), which
    the document's byline answers rather than any sentence of its text.

    >>> asks_author("Who wrote the article about the truce?"), asks_author("Who wrote the letter?")
    (True, False)
    """
    return bool(_AUTHOR_Q.search(question))


def byline_answer(
    question: str, ranked: Sequence[Scored], byline: Callable[[str], Byline | None]
) -> list[Scored]:
    """For a question about a document's author: the byline of the document the best sentence
    comes from, as the one sentence to quote; nothing when the question is not about the
    author or that document has no byline."""
    if not ranked or not asks_author(question):
        return []
    best = ranked[0]
    found = byline(best.cand.source)
    if found is None:
        return []
    start, end, text = found.start, found.end, found.text
    c = best.cand
    cand = Candidate(
        id=f"byline:{c.source}",
        source=c.source,
        title=c.title,
        date=c.date,
        text=text,
        start=start,
        end=end,
        index=-1,
        vector=c.vector,
        passage=text,
        passage_score=c.passage_score,
    )
    return [Scored(cand, best.score, best.cosine, best.coverage, True)]


@dataclass(frozen=True)
class Decision:
    """What the answerer made of the candidates: their ranking, the pick, or why it abstains."""

    ranked: list[Scored]
    chosen: list[Scored]
    reason: str | None
    # the probability that the first chosen (or, abstaining, the best) sentence answers; None
    # from a reader with no calibrated probability
    confidence: float | None = None


def decide(
    question: str,
    qvec: np.ndarray,
    cands: Sequence[Candidate],
    idf: Callable[[str], float],
    knows: Callable[[str], bool],
    policy: AnswerPolicy = AnswerPolicy(),
    knows_name: Callable[[str], bool] | None = None,
    word_vec: WordVec | None = None,
    byline: Callable[[str], Byline | None] | None = None,
) -> Decision:
    """Score, then answer from the sentences that give what the question asks for, or abstain.

    ``byline(source)`` gives a document's byline (original range, text), quoted for a question
    about who wrote the document."""
    ranked = score_candidates(question, qvec, cands, idf, policy, word_vec)
    if expected_type(question):
        # a "how many" question is answered by a sentence with a number in it, and so on
        ranked = [s for s in ranked if s.typed] + [s for s in ranked if not s.typed]
    reason = should_abstain(question, ranked, knows, policy, knows_name)
    if reason is not None:
        return Decision(ranked, [], reason)
    by = byline_answer(question, ranked, byline) if byline else []
    return Decision(ranked, by or choose(ranked, policy), None)


def build_answer(
    question: str,
    chosen: Sequence[Scored],
    neighbour: Callable[[Candidate, int], Candidate | None],
    abstain_reason: str | None,
    closest: Sequence[Scored] = (),
    confidence: float | None = None,
) -> Answer:
    """Assemble the answer text with ``[n]`` markers and its citations, the answering sentence
    first and the others in the order the reader ranked them.

    ``neighbour(c, -1)`` gives the sentence before ``c``: a sentence that cannot be read alone
    ("..., he said", "He added ...") brings it along, right after itself and marked as context,
    so the quote names its speaker without pushing the answer down. Abstaining, the closest
    sentences are cited as such (role ``closest``), not as an answer.
    """
    if abstain_reason is not None:
        cits = tuple(
            _cite(i + 1, s.cand, s.score, "closest", s.probability)
            for i, s in enumerate(closest[:3])
        )
        return Answer(question, ABSTAIN_TEXT, True, cits, confidence, abstain_reason)
    items: list[tuple[Candidate, Scored, str]] = []
    seen: set[str] = set()
    for s in chosen:
        if s.cand.id in seen:
            continue
        seen.add(s.cand.id)
        items.append((s.cand, s, "answer"))
        if needs_previous(s.cand.text):
            prev = neighbour(s.cand, -1)
            if prev is not None and not prev.heading and prev.id not in seen:
                seen.add(prev.id)
                items.append((prev, s, "context"))
    cits = tuple(
        _cite(n, c, s.score, role, s.probability if role == "answer" else None)
        for n, (c, s, role) in enumerate(items, start=1)
    )
    text = " ".join(f"{c.quote} [{c.n}]" for c in cits)
    return Answer(question, text, False, cits, confidence, None)


def _cite(
    n: int, c: Candidate, score: float, role: str = "answer", probability: float | None = None
) -> Citation:
    return Citation(
        n=n,
        source=c.source,
        title=c.title,
        date=c.date,
        start=c.start,
        end=c.end,
        quote=c.text,
        passage=c.passage,
        score=float(score),
        role=role,
        probability=probability,
    )
