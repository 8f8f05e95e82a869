"""Train the learned reader (``rag/crossencoder.py``) on SQuAD-shifts, and only on it.

    python -m rag.train --data ../shared/datasets/train-squadshifts --out rag/models/reader

Each question is paired with the sentence of its paragraph that holds the answer (positive),
other sentences of that paragraph, and the sentences of other paragraphs of the same file
that BM25 ranks highest for it (negatives, as when the question's own paragraph is not in
the corpus); with ``--swap``, also the question with one of its names swapped for one its
paragraph never mentions, against its own answering sentence (``swapped``). The loss is binary
cross-entropy per pair plus a softmax over each question's group, so the logit both ranks and
separates. With ``--mine K`` each question also meets the K sentences the model being
trained takes most for answers at that step. With ``--span`` a span head learns, on the same
pairs, where the answer starts and ends in the answering sentence and to point at the first
token ("no answer") in every other pair (the SQuAD 2.0 way of learning to refuse), its loss
added to the others. A held-out share of paragraphs (never trained on) then fits the
calibration ``P = sigmoid(a * logit + b)`` of the best sentence's logit, and the abstention
threshold (the rule is in ``choose_threshold``). XQuAD and ``eval/qa.jsonl`` are never read
here.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from rag.crossencoder import (
    CONFIG,
    CONTEXT_TOKENS,
    MAX_TOKENS,
    TITLE_TOKENS,
    WEIGHTS,
    ReaderConfig,
    asked,
    load_config,
)
from rag.errors import RagError

FILES = ("new_wiki_v1.0.json", "reddit_v1.0.json", "amazon_reviews_v1.0.json")
# the share of answerable held-out questions the threshold may refuse (see choose_threshold)
FALSE_ABSTENTION_BUDGET = 0.03
HELD_SHARE = 0.08  # paragraphs whose questions are never trained on (--held-share)
# a batch's pairs run in this many groups of near length (--length-parts; forward_by_length)
LENGTH_PARTS = 4  # 0.86x a step's time against 2 (2026-12-08); the shipped model used 2


@dataclass
class Paragraph:
    file: str
    sentences: list[str]
    context: str = ""
    starts: tuple[int, ...] = ()  # where each sentence starts in ``context``
    # the title of its document as `eval.fit`'s corpora give it ("Flag of the United States",
    # "post 12" for a Reddit post); empty unless the reader is trained with ``--titles``
    title: str = ""


@dataclass
class Question:
    text: str
    para: int
    positives: frozenset[int]
    answers: tuple[tuple[int, int], ...] = ()  # each answer's characters in the context


# the question (with its candidate's document title when trained with titles: ``ask``),
# the sentence, the sentence before
Triple = tuple[str, str, str | None]


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def load(
    data: Path, titles: bool = False
) -> tuple[list[Paragraph], list[Question], dict[str, str]]:
    """Paragraphs split into sentences (the project's own splitter), and each question with
    the sentences its answers overlap. With ``titles``, each paragraph keeps its document's
    title as `eval.fit`'s corpora name it: the article's title with spaces for underscores,
    and "post N" for each post of a file that is one article of many posts."""
    paras: list[Paragraph] = []
    qs: list[Question] = []
    sums = {}
    for name in FILES:
        path = data / name
        sums[name] = sha256(path)
        arts = json.loads(path.read_text(encoding="utf-8"))["data"]
        for art in arts:
            for n, p in enumerate(art["paragraphs"]):
                ctx = p["context"]
                spans = paragraph_sentences(ctx)
                if len(spans) < 1:
                    continue
                pi = len(paras)
                starts = tuple(s for s, _ in spans)
                title = ""
                if titles:
                    title = f"post {n + 1}" if len(arts) == 1 else art["title"].replace("_", " ")
                paras.append(Paragraph(name, [ctx[s:e] for s, e in spans], ctx, starts, title))
                for qa in p["qas"]:
                    pos: set[int] = set()
                    found = []
                    for ans in qa["answers"]:
                        a0 = ans["answer_start"]
                        a1 = a0 + len(ans["text"])
                        found.append((a0, a1))
                        pos.update(i for i, (s, e) in enumerate(spans) if s < a1 and a0 < e)
                    if pos and qa["question"].strip():
                        text = qa["question"].strip()
                        qs.append(Question(text, pi, frozenset(pos), tuple(found)))
    return paras, qs, sums


def paragraph_sentences(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of each sentence of a training paragraph, line by line (a Reddit
    post's lines are not joined into one sentence), by the project's own splitter."""
    from rag.segment import sentence_spans

    return [(a + s, a + e) for a, line in _lines(text) for s, e in sentence_spans(line)]


def _lines(text: str) -> Iterator[tuple[int, str]]:
    at = 0
    for line in text.split("\n"):
        if line.strip():
            yield at, line
        at += len(line) + 1


def split(paras: Sequence[Paragraph], held_share: float, seed: int) -> set[int]:
    """Held-out paragraphs: their questions are never trained on."""
    rng = random.Random(seed)
    idx = list(range(len(paras)))
    rng.shuffle(idx)
    return set(idx[: int(len(idx) * held_share)])


def trained_paragraphs(
    paras: Sequence[Paragraph], qs: Sequence[Question], training: dict[str, Any]
) -> set[int]:
    """The paragraphs a model's first stage trained on, from its recorded ``training`` (seed
    and question count, ``rag.train``'s default held-out share): ``python -m eval.fit`` keeps
    away from them, ``python -m rag.late`` trains on them."""
    held = split(paras, HELD_SHARE, training["seed"])
    rng = random.Random(training["seed"])
    return {q.para for q in trained_questions(qs, held, rng, training["trained_questions"])}


def trained_questions(
    qs: Sequence[Question], held: set[int], rng: random.Random, n: int
) -> list[Question]:
    """The ``n`` questions trained on, in training order: drawn from the paragraphs not
    held out. ``python -m eval.fit`` calls it again to keep away from what was trained."""
    out = [q for q in qs if q.para not in held]
    rng.shuffle(out)
    return out[:n]


def first_paragraphs_questions(
    qs: Sequence[Question], held: set[int], seed: int, first: int
) -> list[Question]:
    """Every question of the paragraphs the first ``first`` of the shuffled order come from
    (the paragraphs a model trains on), in that order."""
    order = trained_questions(qs, held, random.Random(seed), len(qs))
    touched = {q.para for q in order[:first]}
    return [q for q in order if q.para in touched]


def cycled_questions(
    qs: Sequence[Question], held: set[int], seed: int, first: int, n: int
) -> list[Question]:
    """``n`` draws for one long run from scratch (``--draws``): every question of the
    paragraphs that the first ``first`` of the shuffled order come from, reshuffled each time
    round. The paragraphs touched are those ``trained_paragraphs`` counts, so the ones
    ``python -m eval.fit`` fits on stay unseen."""
    pool = first_paragraphs_questions(qs, held, seed, first)
    out: list[Question] = []
    turn = 0
    while pool and len(out) < n:
        turn += 1
        more = pool[:]
        random.Random(seed + 7919 * turn).shuffle(more)
        out += more[: n - len(out)]
    return out


def further_questions(
    qs: Sequence[Question], held: set[int], training: dict[str, Any], n: int
) -> list[Question]:
    """Questions for continuing a trained model: the next ``n`` of its shuffled order not yet
    trained on, from paragraphs it already trained on, so the paragraphs no question has
    trained on (which ``python -m eval.fit`` fits on) stay untouched."""
    order = trained_questions(qs, held, random.Random(training["seed"]), len(qs))
    first = training["trained_questions"]
    done = first + sum(c["questions"] for c in training.get("continued", []))
    touched = {q.para for q in order[:first]}
    rest = [q for q in order[first:] if q.para in touched]
    return rest[done - first : done - first + n]


# a run of capitalised words (a name), or a number
_NAME_RUN = re.compile(r"[A-Z][\w'’.-]*(?:\s+(?:of\s+|de\s+)?[A-Z][\w'’.-]*)*|\d[\d,.]*\d|\d")


def mentions(text: str) -> list[tuple[int, int]]:
    """Where ``text`` names something: runs of capitalised words (the first word of the text
    left out, it is capitalised anyway) and numbers."""
    from rag.lexical import STOPWORDS

    lead = len(text) - len(text.lstrip(" \"'“‘("))
    out = []
    for m in _NAME_RUN.finditer(text):
        start, word = m.start(), m.group(0)
        if start == lead:  # drop the text's first word from the run
            rest = re.match(r"\S+\s*", word)
            start += rest.end() if rest else len(word)
            word = text[start : m.end()]
        word = word.rstrip(".,'’")
        if word and word.lower() not in STOPWORDS and word[0].isalnum():
            out.append((start, start + len(word)))
    return out


class NamePool:
    """Every name and number of one file's paragraphs, to swap into a question, and where
    each is named (paragraph, sentence)."""

    def __init__(self, paras: Sequence[Paragraph], members: Sequence[int]) -> None:
        self.where: dict[str, list[tuple[int, int]]] = {}
        for pi in members:
            for si, sent in enumerate(paras[pi].sentences):
                for a, b in mentions(sent):
                    self.where.setdefault(sent[a:b], []).append((pi, si))
        self.numbers = sorted(n for n in self.where if n[0].isdigit())
        self.words = sorted(n for n in self.where if not n[0].isdigit())


def swapped(question: str, para: Paragraph, pool: NamePool, rng: random.Random) -> str | None:
    """``question`` with one of its names (or numbers) that its paragraph mentions replaced by
    another of the same file that the paragraph never mentions: a question that still looks
    answerable by the paragraph but is not (the entity swaps of SQuAD 2.0's unanswerable
    questions). None when the question names nothing the paragraph does."""
    both = swap(question, para, pool, rng)
    return both[0] if both else None


def swap(
    question: str, para: Paragraph, pool: NamePool, rng: random.Random
) -> tuple[str, str] | None:
    """``swapped``'s question and the name it swapped in."""
    text = (para.context or " ".join(para.sentences)).lower()
    spots = [(a, b) for a, b in mentions(question) if question[a:b].lower() in text]
    if not spots:
        return None
    a, b = rng.choice(spots)
    kind = pool.numbers if question[a].isdigit() else pool.words
    fresh = [n for n in kind if n.lower() not in text and n.lower() not in question.lower()]
    size = len(question[a:b].split())
    alike = [n for n in fresh if len(n.split()) == size] or fresh  # as many words, if any
    if not alike:
        return None
    name = rng.choice(alike)
    return question[:a] + name + question[b:], name


def titles_by_file(paras: Sequence[Paragraph]) -> dict[str, list[str]]:
    """Each file's document titles, in the order first met."""
    out: dict[str, dict[str, None]] = {}
    for p in paras:
        if p.title:
            out.setdefault(p.file, {})[p.title] = None
    return {f: list(titles) for f, titles in out.items()}


def retitled(
    question: str, para: Paragraph, titles: Sequence[str], rng: random.Random
) -> str | None:
    """Another document title of the same file, for ``question`` asked of a sentence of
    ``para``: one sharing no content word with the question, when the question names a word
    of ``para``'s own title (so that the title is evidence). The answering sentence read
    under it is a sentence of an article on something else that reads as if it answered,
    which is what a question meets when its own article is not in the corpus. None when the
    question names nothing of its title (a Reddit post's "post 12")."""
    from rag.lexical import tokens

    words = set(tokens(question))
    if not para.title or not words & set(tokens(para.title)):
        return None
    other = [t for t in titles if t != para.title and not words & set(tokens(t))]
    return rng.choice(other) if other else None


_YEAR = re.compile(r"\b(1[5-9]\d\d|20\d\d)\b")
MONTHS = (
    "January February March April May June July August September October November December"
).split()


def date_opening(question: str, rng: random.Random) -> str | None:
    """An opening naming the year the question names, as news and reference text open
    sentences ("In 2011, ", "On March 3, 2011, ", "March 3, 2011 — "), in the question's month
    when it names one; None when the question names no year. A sentence of the paragraph so
    opened, and not answering, is the negative ``training_groups`` adds with ``decoy``: the
    reader took a sentence sharing the question's date for an answer (``python -m
    eval.probe``)."""
    m = _YEAR.search(question)
    if not m:
        return None
    year = m.group(1)
    month = next((mo for mo in MONTHS if re.search(rf"\b{mo}\b", question)), None)
    month = month or rng.choice(MONTHS)
    day = rng.randint(1, 28)
    forms = (
        f"In {year}, ",
        f"In {month} {year}, ",
        f"On {month} {day}, {year}, ",
        f"{month} {day}, {year} — ",
        f"As of {year}, ",
    )
    return rng.choice(forms)


def dated_question(question: str, sentence: str, answers: Sequence[str]) -> str | None:
    """``question`` asked of the year its answering ``sentence`` names ("Who built the arch in
    1932?"), for ``training_groups``' ``dated_questions``; None when the question names a year
    already, the sentence names none, or an answer holds the year (the question would give it
    away). SQuAD-shifts has few questions naming a date (1.7%): these make more of them, each
    still answered by its sentence."""
    m = _YEAR.search(sentence)
    if _YEAR.search(question) or not m or any(m.group(1) in a for a in answers):
        return None
    return f"{question.rstrip().rstrip('?').rstrip()} in {m.group(1)}?"


MASK = "[MASK]"  # the tokenizer's mask token, read as one word piece
_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")


def masked(question: str, sentence: str) -> str | None:
    """``question`` with every word it shares with ``sentence`` masked (``--mask-shared``),
    but for names (capitalised in the question): the question as a reader meets it when it
    is put in other words than the answering sentence's. None when no word is shared, or when
    no content word would be left to read.

    >>> masked("In what year was the tower completed?", "The tower was completed in 1889.")
    'In what year was the [MASK] [MASK]?'
    """
    from rag.lexical import tokens

    shared = set(tokens(sentence))

    def hide(m: re.Match[str]) -> str:
        w = m.group(0)
        return MASK if w[0].islower() and set(tokens(w)) & shared else w

    out = _WORD.sub(hide, question)
    if out == question or not tokens(out.replace(MASK, " ")):
        return None
    return out


def erased(sentence: str, span: Span, answers: Sequence[str]) -> str | None:
    """``sentence`` with its answer cut out, and up to two short common words that led to it
    ("in the", "on", "was"), for ``training_groups``' ``erase``: a sentence that still says
    everything else the question asks about and no longer answers, as a paragraph does that is
    about the question's subject but lacks what it asks (a city, a date, a number). None when
    the answer is unknown, takes most of the sentence, or is still in what is left."""
    from rag.lexical import STOPWORDS

    if span is None or span == UNKNOWN:
        return None
    a0, a1 = span
    if a1 - a0 > len(sentence) // 2:
        return None
    head, tail = sentence[:a0].rstrip(), sentence[a1:]
    for _ in range(2):  # "in the", "on", "was"
        last = head.rsplit(" ", 1)
        if len(last) == 2 and last[1] in STOPWORDS and len(last[1]) <= 4 and last[1].islower():
            head = last[0]
    out = re.sub(r"\s+([,.;:!?)])", r"\1", f"{head} {tail.lstrip()}")
    out = re.sub(r"\(\s*\)|\s{2,}", " ", out).strip().replace(",,", ",")
    out = re.sub(r"^[,;:]\s*|[,;:](?=[.!?]$)", "", out)
    out = out[:1].upper() + out[1:]
    low = out.lower()
    if len(out.split()) < 4 or any(a and a in low for a in answers):
        return None
    return out


# a question asking why, how or where something is, was or is done: asked "when" instead,
# it keeps its words and still reads as a question
_REASKABLE = re.compile(
    r"^(?:why|how|where)\s+(did|does|do)\s+(\S.*)$"
    r"|^(?:why|where)\s+(was|were|is|are|has|have|had)\s+(\S.*)$",
    re.IGNORECASE,
)
# words that may say when, beside month and day names (``rag.answer.is_temporal``): a sentence
# holding none of them (nor a digit) cannot answer "when"
_TIME_WORDS = frozenset(
    """century centuries decade decades year years yearly annual annually ago today tonight
    yesterday tomorrow morning mornings evening evenings afternoon night nights week weeks weekly
    weekend month months monthly season seasons spring summer autumn fall winter christmas easter
    era age ages period since until till before after during when whenever while then now
    recently later earlier once time times day days daily date dated hour hours minute minutes
    moment soon early late lately first last previous next former eventually meanwhile
    afterwards beforehand currently presently bc ad bce ce am pm""".split()
)
WHEN_FORMS = ("When", "In what year", "On what date")


def timeless(text: str | None) -> bool:
    """Whether ``text`` says nothing of when: no digit, no month or day name and none of
    ``_TIME_WORDS``."""
    from rag.answer import is_temporal

    if not text:
        return True
    low = text.lower()
    words = set(re.findall(r"[a-z]+", low))
    return (
        not re.search(r"\d", low) and not words & _TIME_WORDS and not any(map(is_temporal, words))
    )


def reasked(question: str, sentence: str, before: str | None, rng: random.Random) -> str | None:
    """``question`` asked "when" in place of why, how or where ("Why did the council close the
    bridge?" -> "In what year did the council close the bridge?"), for ``training_groups``'
    ``reask``: against its own answering sentence, which says nothing of when, a question
    about exactly what the sentence is about that it does not answer. None when the question
    does not begin so, or the sentence or the one before it may say when."""
    m = _REASKABLE.match(question.strip())
    if m is None or not timeless(sentence) or not timeless(before):
        return None
    aux, rest = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
    return f"{rng.choice(WHEN_FORMS)} {aux.lower()} {rest}"


def opened(opening: str, sentence: str) -> str:
    """``sentence`` after ``opening``: its first word lower-cased when it is a common word
    ("The", "It"), as it would be written mid-sentence; names keep their capitals."""
    from rag.lexical import STOPWORDS

    first = sentence.split(" ", 1)[0]
    if not opening.endswith("— ") and first.lower() in STOPWORDS and first[1:].islower():
        sentence = sentence[0].lower() + sentence[1:]
    return opening + sentence


def revisited_questions(
    qs: Sequence[Question], held: set[int], training: dict[str, Any], n: int, stage: int
) -> list[Question]:
    """Questions for a further pass: ``n`` drawn afresh (by ``stage``) from every question of
    the paragraphs the model first trained on, trained on before or not, so the paragraphs
    ``python -m eval.fit`` fits on stay untouched."""
    pool = first_paragraphs_questions(qs, held, training["seed"], training["trained_questions"])
    random.Random(training["seed"] + 1000 * stage).shuffle(pool)
    return pool[:n]


class OtherParagraphs:
    """BM25 over every sentence of one file: the best sentences of other paragraphs."""

    def __init__(self, paras: Sequence[Paragraph], members: Sequence[int]) -> None:
        from rag.lexical import LexicalIndex

        self.where = [(pi, si) for pi in members for si in range(len(paras[pi].sentences))]
        ids = [str(i) for i in range(len(self.where))]
        texts = [paras[pi].sentences[si] for pi, si in self.where]
        self.lex = LexicalIndex.build(ids, texts)

    def best(self, question: str, not_para: int, k: int) -> list[tuple[int, int]]:
        out = []
        for sid, _ in self.lex.search(question, k + 12):
            pi, si = self.where[int(sid)]
            if pi != not_para:
                out.append((pi, si))
            if len(out) == k:
                break
        return out


def context(paras: Sequence[Paragraph], pi: int, si: int) -> str | None:
    return paras[pi].sentences[si - 1] if si > 0 else None


def ask(question: str, p: Paragraph) -> str:
    """The first segment the reader reads for a sentence of ``p``: the question, with ``p``'s
    document title when it has one (``--titles``; ``rag.crossencoder.asked``)."""
    return asked(question, p.title, TITLE_TOKENS)


Span = tuple[int, int] | None  # an answer's characters in its sentence; None: no answer here
UNKNOWN: Span = (-1, -1)  # an answer the span head is not taught (crossing sentences)


def answer_span(p: Paragraph, q: Question, si: int) -> Span:
    """The characters, within sentence ``si``, of the first answer of ``q`` that lies wholly
    in it; ``UNKNOWN`` when none does (an answer across two sentences, or no offsets)."""
    if not p.starts:
        return UNKNOWN
    s0 = p.starts[si]
    s1 = s0 + len(p.sentences[si])
    for a0, a1 in q.answers:
        if s0 <= a0 and a1 <= s1 and a1 > a0:
            return a0 - s0, a1 - s0
    return UNKNOWN


def training_groups(
    paras: Sequence[Paragraph],
    qs: Sequence[Question],
    others: dict[str, OtherParagraphs],
    rng: random.Random,
    in_para: int,
    out_para: int,
    hard: int = 0,
    pools: dict[str, NamePool] | None = None,
    decoy: bool = False,
    dated_questions: bool = False,
    erase: bool = False,
    reask: bool = False,
    retitle: dict[str, list[str]] | None = None,
    retitle_rng: random.Random | None = None,
    source_rng: random.Random | None = None,
    mask_share: float = 0.0,
    mask_rng: random.Random | None = None,
) -> Iterator[tuple[list[Triple], list[float], list[Span]]]:
    """Per question: its answering sentence, up to ``in_para`` other sentences of the
    paragraph and ``out_para`` of the top five BM25 sentences of other paragraphs, with each
    pair's label and answer span (``answer_span`` for the answering sentence, None for the
    others).

    The first ``hard`` of the paragraph's others are those sharing the most content words
    with the question (the sentences that look as if they answered, as the rest of its
    paragraph does when the answering sentence is missing); the rest are drawn at random.
    With ``pools``, the question with one of its names swapped (``swapped``) is one more
    negative against the answering sentence, when the question has a name to swap. With
    ``source_rng`` too, the swapped question is also a negative against a sentence of another
    paragraph that names what was swapped in (drawn by ``source_rng``, so every other pair is
    drawn as without it): a sentence about the name asked, which does not answer what is asked
    of it, as the pipeline hands a swapped question the sentences naming its new name.

    With ``decoy``, a question naming a year gets one more negative: a non-answering sentence
    of its paragraph opened by a date in that year (``date_opening``); and, half the time, its
    answering sentence is opened the same way, so that the date tells neither way.

    With ``dated_questions``, a question whose answering sentence names a year is also asked
    of that year (``dated_question``) in a group of its own: its answering sentence against
    two others of the paragraph, each opened by a date in that year, so a date shared with the
    question is no answer.

    With ``erase``, the answering sentence with its answer cut out (``erased``) is one more
    negative: what makes a sentence answer is the phrase that answers, not the rest of it.

    With ``reask``, a question asking why, how or where, whose answering sentence says nothing
    of when, is also asked "when" (``reasked``) against that sentence, one more negative: a
    sentence about exactly what is asked does not answer unless it holds the kind of thing
    asked.

    With ``retitle`` (each file's document titles), the answering sentence read under another
    article's title (``retitled``) is one more negative; its draws come from a generator of
    their own (``retitle_rng``), so every other pair is drawn as without it.

    With ``mask_share``, that share of the questions (drawn by ``mask_rng``, so every other
    pair is drawn as without it) are asked with the words they share with their answering
    sentence masked (``masked``), in every pair of their group but the name-swapped one: the
    answering sentence must then be found by what it means, not by the words it repeats."""
    from rag.lexical import tokens

    for q in qs:
        p = paras[q.para]
        pos = rng.choice(sorted(q.positives))
        negs = [i for i in range(len(p.sentences)) if i not in q.positives]
        rng.shuffle(negs)
        if hard:
            words = set(tokens(q.text))
            hardest = sorted(negs, key=lambda i: -len(words & set(tokens(p.sentences[i]))))[:hard]
            negs = hardest + [i for i in negs if i not in hardest]
        before = context(paras, q.para, pos)
        text = q.text
        if mask_rng is not None and mask_rng.random() < mask_share:
            text = masked(q.text, p.sentences[pos]) or q.text
        own = ask(text, p)
        trip: list[Triple] = [(own, p.sentences[pos], before)]
        trip += [(own, p.sentences[i], context(paras, q.para, i)) for i in negs[:in_para]]
        far = others[p.file].best(q.text, q.para, 5)
        rng.shuffle(far)
        trip += [
            (ask(text, paras[a]), paras[a].sentences[b], context(paras, a, b))
            for a, b in far[:out_para]
        ]
        pool = pools[p.file] if pools else None
        both = swap(q.text, p, pool, rng) if pool else None
        if pool and both is not None:
            other, name = both
            trip.append((ask(other, p), p.sentences[pos], before))
            if source_rng is not None:
                named = [w for w in pool.where.get(name, []) if w[0] != q.para]
                if named:
                    a, b = source_rng.choice(named)
                    trip.append(
                        (ask(other, paras[a]), paras[a].sentences[b], context(paras, a, b))
                    )
        spans: list[Span] = [answer_span(p, q, pos)] + [None] * (len(trip) - 1)
        cut = erased(p.sentences[pos], spans[0], answer_texts(p, q)) if erase else None
        if cut is not None:
            trip.append((own, cut, before))
            spans.append(None)
        elsewhere = (
            retitled(q.text, p, retitle[p.file], retitle_rng)
            if retitle is not None and retitle_rng is not None
            else None
        )
        if elsewhere is not None:
            trip.append((asked(q.text, elsewhere, TITLE_TOKENS), p.sentences[pos], before))
            spans.append(None)
        when = reasked(q.text, p.sentences[pos], before, rng) if reask else None
        if when is not None:
            trip.append((ask(when, p), p.sentences[pos], before))
            spans.append(None)
        opening = date_opening(q.text, rng) if decoy and negs else None
        if opening is not None:
            i = rng.choice(negs)
            trip.append((own, opened(opening, p.sentences[i]), context(paras, q.para, i)))
            spans.append(None)
            if rng.random() < 0.5:
                dated = opened(opening, p.sentences[pos])
                trip[0] = (own, dated, trip[0][2])
                shift = len(dated) - len(p.sentences[pos])
                sp = spans[0]
                if sp is not None and sp != UNKNOWN:
                    spans[0] = (sp[0] + shift, sp[1] + shift)
        yield trip, [1.0] + [0.0] * (len(trip) - 1), spans
        again = (
            dated_question(q.text, p.sentences[pos], answer_texts(p, q))
            if dated_questions
            else None
        )
        if again is not None and negs:
            picks = rng.sample(negs, min(2, len(negs)))
            trip = [(ask(again, p), p.sentences[pos], before)]
            for i in picks:
                day = date_opening(again, rng) or ""
                trip.append((ask(again, p), opened(day, p.sentences[i]), context(paras, q.para, i)))
            yield trip, [1.0] + [0.0] * len(picks), [answer_span(p, q, pos)] + [None] * len(picks)


def pipeline_groups(
    path: Path, title_tokens: int = 0
) -> list[tuple[list[Triple], list[float], list[Span]]]:
    """Groups recorded from the pipeline (``--pipeline-groups``): each question with the
    candidates the first model would hand the cross-encoder, its answering one first when
    one is there; unanswerable questions have none."""
    out = []
    for g in json.loads(path.read_text(encoding="utf-8")):
        titles = g.get("titles") or [""] * len(g["pairs"])
        trip: list[Triple] = [
            (asked(g["q"], t, title_tokens), s, b)
            for (s, b), t in zip(g["pairs"], titles, strict=True)
        ]
        spans: list[Span] = [UNKNOWN if y else None for y in g["labels"]]
        out.append((trip, [float(y) for y in g["labels"]], spans))
    return out


def answer_texts(p: Paragraph, q: Question) -> list[str]:
    """The question's answers as its paragraph writes them, lower-cased."""
    return [p.context[a:b].lower() for a, b in q.answers if b > a]


def mining_pool(
    paras: Sequence[Paragraph],
    q: Question,
    others: dict[str, OtherParagraphs],
    far: int,
    taken: Sequence[Triple],
) -> list[Triple]:
    """What the model mines its own negatives from (``--mine``): every sentence of the
    question's paragraph that does not answer and the ``far`` best (BM25) of other paragraphs
    of its file, less those already in its group and any that holds one of its answers as
    written (another paragraph may answer too; such a sentence is no negative)."""
    p = paras[q.para]
    answers = answer_texts(p, q)
    have = {t[1] for t in taken}
    at = [(q.para, i) for i in range(len(p.sentences)) if i not in q.positives]
    at += others[p.file].best(q.text, q.para, far)
    pool = []
    for a, b in at:
        text = paras[a].sentences[b]
        if text in have or any(ans in text.lower() for ans in answers):
            continue
        have.add(text)
        pool.append((ask(q.text, paras[a]), text, context(paras, a, b)))
    return pool


def mine(
    model: Any,
    cfg: ReaderConfig,
    pools: Sequence[Sequence[Triple]],
    k: int,
    low: bool,
) -> list[list[Triple]]:
    """Per pool, the ``k`` triples the model now takes most for answers (highest logit): the
    negatives it most needs to learn from, whatever wording misleads it. ``low``: read in
    bfloat16, as the training steps compute."""
    import torch

    from rag.crossencoder import read_triples

    flat = [t for pool in pools for t in pool]
    if not flat:
        return [[] for _ in pools]
    was = model.training
    model.eval()
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=low):
        logits = read_triples(model, flat, cfg, LENGTH_PARTS).logits
    model.train(was)
    return hardest(pools, logits, k)


def hardest(pools: Sequence[Sequence[Triple]], logits: np.ndarray, k: int) -> list[list[Triple]]:
    """Per pool, its ``k`` members of highest logit (``logits`` run over the pools in turn)."""
    out, at = [], 0
    for pool in pools:
        lg = np.asarray(logits[at : at + len(pool)])
        out.append([pool[i] for i in np.argsort(-lg, kind="stable")[:k]])
        at += len(pool)
    return out


def train(args: argparse.Namespace) -> None:
    import torch

    from rag.crossencoder import (
        build_model,
        compute_dtype,
        encode_batch,
        forward_by_length,
        trained_names,
    )

    prev = load_config(Path(args.continue_from)) if args.continue_from else None
    if prev is not None:  # the same split as the model continued from
        args.seed = prev.training["seed"]
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    rng = random.Random(args.seed)
    t0 = time.time()
    titles = args.titles or (prev is not None and prev.title_tokens > 0)
    paras, qs, sums = load(Path(args.data), titles)
    held = split(paras, args.held_share, args.seed)
    held_qs = [q for q in qs if q.para in held]
    if prev is None:
        touching = trained_questions(qs, held, rng, args.questions)
        train_qs = (
            cycled_questions(qs, held, args.seed, args.questions, args.draws)
            if args.draws
            else touching
        )
    else:
        stage = len(prev.training.get("continued", [])) + 1
        if args.again:
            train_qs = revisited_questions(qs, held, prev.training, args.questions, stage)
        else:
            train_qs = further_questions(qs, held, prev.training, args.questions)
        rng = random.Random(args.seed + stage)
    by_file: dict[str, list[int]] = {}
    for i, p in enumerate(paras):
        by_file.setdefault(p.file, []).append(i)
    others = {f: OtherParagraphs(paras, members) for f, members in by_file.items()}
    pools = {f: NamePool(paras, members) for f, members in by_file.items()}
    log(
        f"{len(paras)} paragraphs, {len(qs)} questions; training on {len(train_qs)}, "
        f"{len(held_qs)} held out ({time.time() - t0:.0f} s)"
    )

    span_head = args.span or (prev is not None and prev.span_head)
    cfg = ReaderConfig(
        layers=args.layers,
        max_tokens=args.max_tokens,
        context_tokens=CONTEXT_TOKENS,
        title_tokens=TITLE_TOKENS if titles else 0,
        span_head=span_head,
    )
    model = build_model(args.layers, span_head)
    if args.continue_from:
        from safetensors.torch import load_file

        state = load_file(str(Path(args.continue_from) / WEIGHTS))
        model.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)
    model.to(args.device)
    held_sample = held_qs[:]
    random.Random(args.seed + 1).shuffle(held_sample)
    held_sample = held_sample[: args.held_questions]
    if prev is not None and args.measure_only:  # the model as it is, on held-out questions
        model.eval()
        _, report = choose_threshold(
            prev, held_out_fit(model, cfg, paras, held_sample, others, pools)
        )
        log(json.dumps(report, indent=1))
        return
    names = set(trained_names(model))
    for n, prm in model.named_parameters():
        prm.requires_grad = n in names
    params = [prm for prm in model.parameters() if prm.requires_grad]
    # a fresh span head learns at its own rate; the layers under it at the usual one
    head = [prm for n, prm in model.named_parameters() if n.startswith("span.")]
    body = [prm for prm in params if all(prm is not h for h in head)]
    opt = torch.optim.AdamW(
        [{"params": body}, {"params": head, "lr": args.span_lr}], lr=args.lr, weight_decay=0.01
    )
    groups = list(
        training_groups(
            paras,
            train_qs,
            others,
            rng,
            args.in_para,
            args.out_para,
            args.hard,
            pools if args.swap else None,
            args.decoy,
            args.dated_questions,
            args.erase,
            args.reask,
            titles_by_file(paras) if args.retitle else None,
            random.Random(args.seed + 7),
            random.Random(args.seed + 11) if args.swap_source else None,
            args.mask_shared,
            random.Random(args.seed + 13) if args.mask_shared else None,
        )
    )
    recorded = (
        pipeline_groups(Path(args.pipeline_groups), cfg.title_tokens) if args.pipeline_groups else []
    )
    if recorded:  # dealt in among the others
        groups += recorded
        rng.shuffle(groups)
    steps = (len(groups) + args.batch_questions - 1) // args.batch_questions
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / args.warmup) * max(0.0, 1 - s / steps)
    )
    model.train()
    bce = torch.nn.BCEWithLogitsLoss()
    # bfloat16 arithmetic where the CPU has it natively (as reading uses), the weights and
    # the optimiser's state in float32: 0.65 s a step against 1.2 s in float32 here
    low = not args.float32 and compute_dtype(args.device) == torch.bfloat16
    for step in range(steps):
        batch = groups[step * args.batch_questions : (step + 1) * args.batch_questions]
        if args.mine:
            batch_qs = train_qs[step * args.batch_questions : (step + 1) * args.batch_questions]
            mining = [
                mining_pool(paras, q, others, args.mine_far, g)
                for q, (g, _, _) in zip(batch_qs, batch, strict=True)
            ]
            batch = [
                (g + extra, ys + [0.0] * len(extra), sps + [None] * len(extra))
                for (g, ys, sps), extra in zip(
                    batch, mine(model, cfg, mining, args.mine, low), strict=True
                )
            ]
        trip = [t for g, _, _ in batch for t in g]
        labels = torch.tensor([y for _, ys, _ in batch for y in ys], device=args.device)
        enc = encode_batch(trip, cfg, offsets=cfg.span_head)
        offsets = enc.pop("offset_mapping", None)
        enc = {k: v.to(args.device) for k, v in enc.items()}
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=low):
            logits, spans = forward_by_length(model, enc, args.length_parts)
        logits = logits.float()
        if spans is not None:
            targets = [sp for _, _, sps in batch for sp in sps]
            loss = args.span_weight * span_loss(spans.float(), enc, offsets, targets)
        else:
            loss = 0.0
        loss = loss + bce(logits, labels)
        # the softmax over each question's group: its answering sentence first
        at = 0
        lst = []
        for g, ys, _ in batch:
            if ys[0] > 0:  # a recorded unanswerable question has no answering sentence
                lst.append(torch.log_softmax(logits[at : at + len(g)], 0)[0])
            at += len(g)
        if lst:
            loss = loss - torch.stack(lst).mean()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        sched.step()
        if step % 25 == 0 or step == steps - 1:
            log(f"step {step + 1}/{steps} loss {loss.item():.3f} ({time.time() - t0:.0f} s)")
    train_secs = time.time() - t0

    model.eval()
    fit = held_out_fit(model, cfg, paras, held_sample, others, pools)
    scale, bias = platt(fit["best_logit"], fit["best_right"], fit["left_out_logit"])
    cfg = ReaderConfig(
        layers=args.layers,
        max_tokens=args.max_tokens,
        context_tokens=CONTEXT_TOKENS,
        title_tokens=TITLE_TOKENS if titles else 0,
        scale=scale,
        bias=bias,
        threshold=0.5,
        span_head=span_head,
    )
    threshold, report = choose_threshold(cfg, fit)
    cfg = ReaderConfig(**{**asdict(cfg), "threshold": threshold})
    report["training_seconds"] = round(train_secs)
    command = "python -m rag.train " + " ".join(args.argv)
    if prev is None:
        meta = {
            "data_sha256": sums,
            "seed": args.seed,
            "command": command,
            # the first draw: the paragraphs its questions come from are the ones trained on
            "trained_questions": len(touching),
            **({"draws": len(train_qs)} if args.draws else {}),
            "steps": steps,
            "held_out": report,
        }
    else:
        done = {"command": command, "questions": len(train_qs), "steps": steps}
        if recorded:
            done["recorded_groups"] = len(recorded)
        if args.layers != prev.layers:
            done["layers"] = args.layers
        if span_head and not prev.span_head:
            done["span_head"] = "added"
        done["training_seconds"] = report.pop("training_seconds")
        meta = {
            **prev.training,
            "continued": [*prev.training.get("continued", []), done],
            "held_out": report,
        }
    save(model, cfg, Path(args.out), meta)
    log(json.dumps(report, indent=1))


def span_loss(spans: Any, enc: dict[str, Any], offsets: Any, targets: Sequence[Span]) -> Any:
    """Cross-entropy of the span head's start and end scores against each pair's answer
    span (the first token for a pair with no answer); over the first token and the
    sentence's word pieces only. Pairs whose answer is ``UNKNOWN``, or cut off by the word
    piece limit, are not counted."""
    import torch

    from rag.crossencoder import sentence_pieces

    allowed = sentence_pieces(enc)
    mask, chars = allowed.tolist(), offsets.tolist()
    starts, ends = [], []
    for row, target in enumerate(targets):
        starts.append(0)
        ends.append(0)
        if target is None:
            continue
        c0, c1 = target
        inside = [i for i, (a, b) in enumerate(chars[row]) if mask[row][i] and b > c0 and a < c1]
        if target == UNKNOWN or not inside or chars[row][inside[-1]][1] < c1:
            starts[-1] = ends[-1] = -100  # not taught: unknown, or cut off
        else:
            starts[-1], ends[-1] = inside[0], inside[-1]
    allowed = allowed.clone()
    allowed[:, 0] = True
    low = -1e4
    device = spans.device
    start = spans[..., 0].masked_fill(~allowed, low)
    end = spans[..., 1].masked_fill(~allowed, low)
    ts = torch.tensor(starts, device=device)
    te = torch.tensor(ends, device=device)
    if bool((ts < 0).all()):
        return spans.sum() * 0.0
    ce = torch.nn.functional.cross_entropy
    return (ce(start, ts, ignore_index=-100) + ce(end, te, ignore_index=-100)) / 2


def held_out_fit(
    model: object,
    cfg: ReaderConfig,
    paras: Sequence[Paragraph],
    qs: Sequence[Question],
    others: dict[str, OtherParagraphs],
    pools: dict[str, NamePool],
) -> dict[str, list[float]]:
    """Each held-out question against its paragraph's sentences plus the ten best of other
    paragraphs (its paragraph in the corpus), and against those ten alone (left out); and,
    where it has a name to swap, the swapped question against its own paragraph's sentences
    (the best logit of a question that looks answerable and is not)."""
    import torch

    from rag.crossencoder import read_triples

    out: dict[str, list[float]] = {
        "best_logit": [],
        "best_right": [],
        "left_out_logit": [],
        "swapped_logit": [],
        "span_best_right": [],
        "span_best": [],
        "span_left_out": [],
    }
    rng = random.Random(0)
    for q in qs:
        p = paras[q.para]
        own = [(ask(q.text, p), s, context(paras, q.para, i)) for i, s in enumerate(p.sentences)]
        far_at = others[p.file].best(q.text, q.para, 10)
        far = [
            (ask(q.text, paras[a]), paras[a].sentences[b], context(paras, a, b))
            for a, b in far_at
        ]
        other = swapped(q.text, p, pools[p.file], rng)
        fake = [(ask(other, p), s, c) for _, s, c in own] if other else []
        with torch.inference_mode():
            seen = read_triples(model, own + far + fake, cfg, LENGTH_PARTS)
        lg, sp = seen.logits, seen.spans
        if cfg.span_head:
            n = len(own) + len(far)
            out["span_best_right"].append(float(int(np.argmax(sp[:n])) in q.positives))
            out["span_best"].append(float(sp[:n].max()))
            out["span_left_out"].append(float(sp[len(own) : n].max()) if far else -20.0)
        best = int(np.argmax(lg[: len(own) + len(far)]))
        out["best_logit"].append(float(lg[best]))
        out["best_right"].append(float(best in q.positives))
        out["left_out_logit"].append(
            float(lg[len(own) : len(own) + len(far)].max()) if far else -20.0
        )
        if fake:
            out["swapped_logit"].append(float(lg[len(own) + len(far) :].max()))
    return out


def platt(
    best: Sequence[float], right: Sequence[float], left_out: Sequence[float]
) -> tuple[float, float]:
    """``a, b`` of ``P = sigmoid(a * logit + b)`` by logistic regression of "the best sentence
    answers" on its logit, over held-out questions with their paragraph (right or wrong best)
    and a fifth as many without it (never right), the share the eval leaves out."""
    n_out = max(1, len(best) // 4)
    x = np.array(list(best) + list(left_out[:n_out]), dtype=np.float64)
    y = np.array(list(right) + [0.0] * n_out, dtype=np.float64)
    a, b = 1.0, 0.0
    for _ in range(2000):  # Newton-free gradient descent: two parameters, convex
        p = 1 / (1 + np.exp(-(a * x + b)))
        ga, gb = float(np.mean((p - y) * x)), float(np.mean(p - y))
        a, b = a - 0.5 * ga, b - 0.5 * gb
    return float(a), float(b)


def choose_threshold(
    cfg: ReaderConfig, fit: dict[str, list[float]]
) -> tuple[float, dict[str, float]]:
    """The abstention threshold: the highest probability at which held-out answerable
    questions are refused at most ``FALSE_ABSTENTION_BUDGET`` of the time, since refusing a
    question the documents answer is the costlier error for a researcher (a wrong answer is
    still a quote they can check). Reported with the abstention on left-out questions."""
    p_best = np.array([cfg.probability(v) for v in fit["best_logit"]])
    p_out = np.array([cfg.probability(v) for v in fit["left_out_logit"]])
    p_swap = np.array([cfg.probability(v) for v in fit.get("swapped_logit", [])])
    t = float(np.quantile(p_best, FALSE_ABSTENTION_BUDGET))
    report = {
        "questions": len(p_best),
        "best_sentence_right": round(float(np.mean(fit["best_right"])), 4),
        "false_abstention": round(float(np.mean(p_best < t)), 4),
        "abstention_left_out": round(float(np.mean(p_out < t)), 4),
        "threshold": round(t, 4),
    }
    if len(p_swap):
        report["abstention_swapped"] = round(float(np.mean(p_swap < t)), 4)
        report["swapped_questions"] = len(p_swap)
    if fit.get("span_best"):  # the span score alone, at the same share of refusals
        s_best, s_out = np.array(fit["span_best"]), np.array(fit["span_left_out"])
        at = float(np.quantile(s_best, FALSE_ABSTENTION_BUDGET))
        report["span_best_sentence_right"] = round(float(np.mean(fit["span_best_right"])), 4)
        report["span_abstention_left_out"] = round(float(np.mean(s_out < at)), 4)
    return round(t, 4), report


def save(model: object, cfg: ReaderConfig, out: Path, meta: dict[str, object]) -> None:
    from safetensors.torch import save_file

    from rag.crossencoder import trained_names

    names = set(trained_names(model))
    state = {
        k: v.detach().cpu().half().contiguous()
        for k, v in model.state_dict().items()  # type: ignore[attr-defined]
        if k in names
    }
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / (WEIGHTS + ".tmp")
    save_file(state, str(tmp))
    tmp.replace(out / WEIGHTS)
    (out / CONFIG).write_text(
        json.dumps({**asdict(cfg), "training": meta}, indent=1) + "\n", encoding="utf-8"
    )
    (out / CONFIG).chmod(0o644)
    (out / WEIGHTS).chmod(0o644)


def log(msg: str) -> None:
    print(msg, flush=True)


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m rag.train", description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="folder with the SQuAD-shifts JSON files")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent / "models" / "reader"))
    ap.add_argument(
        "--layers",
        type=int,
        help="layers of the base model kept (default 4); with --continue-from, more than the "
        "model has grows it, the added layers starting as the base model's",
    )
    ap.add_argument("--max-tokens", type=int, default=MAX_TOKENS)
    ap.add_argument("--questions", type=int, default=8000, help="training questions drawn")
    ap.add_argument(
        "--draws",
        type=int,
        help="from scratch, one long run: this many question draws, going round every "
        "question of the paragraphs the first --questions come from",
    )
    ap.add_argument(
        "--float32",
        action="store_true",
        help="train in float32 even where the CPU computes bfloat16 natively",
    )
    ap.add_argument("--batch-questions", type=int, default=6)
    ap.add_argument(
        "--length-parts",
        type=int,
        default=LENGTH_PARTS,
        help="run each step's pairs as this many groups of near length, each padded only to "
        "its own longest (the same numbers up to rounding, about 30%% less time a step than one "
        "padded run; 1: one padded run)",
    )
    ap.add_argument("--in-para", type=int, default=3)
    ap.add_argument("--out-para", type=int, default=2)
    ap.add_argument(
        "--hard",
        type=int,
        default=0,
        help="of the --in-para negatives, how many are the paragraph's sentences sharing the "
        "most words with the question (the rest are drawn at random)",
    )
    ap.add_argument(
        "--mine",
        type=int,
        default=0,
        help="per question, this many more negatives: those the model being trained takes "
        "most for answers at that step, from its paragraph and the --mine-far best sentences "
        "of other paragraphs",
    )
    ap.add_argument(
        "--mine-far",
        type=int,
        default=8,
        help="with --mine: how many of other paragraphs' best (BM25) sentences it reads",
    )
    ap.add_argument(
        "--pipeline-groups",
        help="a JSON file of groups recorded from the pipeline, dealt in among the others",
    )
    ap.add_argument(
        "--swap",
        action="store_true",
        help="add each question with one of its names swapped for another of the file, "
        "against its answering sentence, as a negative",
    )
    ap.add_argument(
        "--swap-source",
        action="store_true",
        help="with --swap: the swapped question is also a negative against a sentence of "
        "another paragraph naming what was swapped in",
    )
    ap.add_argument(
        "--dated-questions",
        action="store_true",
        help="a question whose answering sentence names a year is also asked of that year, "
        "against two other sentences of its paragraph opened by a date in it",
    )
    ap.add_argument(
        "--mask-shared",
        type=float,
        default=0.0,
        metavar="SHARE",
        help="this share of the questions asked with the words they share with their "
        "answering sentence masked (names kept)",
    )
    ap.add_argument(
        "--erase",
        action="store_true",
        help="one more negative per question: its answering sentence with the answer cut out",
    )
    ap.add_argument(
        "--reask",
        action="store_true",
        help="one more negative for a question asking why, how or where: the question asked "
        "'when' against its answering sentence, when that sentence says nothing of when",
    )
    ap.add_argument(
        "--retitle",
        action="store_true",
        help="with --titles: one more negative per question that names a word of its "
        "document's title: its answering sentence read under another article's title",
    )
    ap.add_argument(
        "--decoy",
        action="store_true",
        help="for each question naming a year, one more negative: a non-answering sentence of "
        "its paragraph opened by a date in that year (and half the time the answering "
        "sentence opened the same way)",
    )
    ap.add_argument(
        "--again",
        action="store_true",
        help="with --continue-from: a further pass over the questions of the paragraphs it "
        "trained on, trained on before or not",
    )
    ap.add_argument(
        "--measure-only",
        action="store_true",
        help="with --continue-from: measure that model on the held-out questions; train "
        "and write nothing",
    )
    ap.add_argument(
        "--titles",
        action="store_true",
        help="read each sentence's document title after the question (its first "
        f"{TITLE_TOKENS} word pieces), as the pipeline then hands it: a sentence of an article "
        "on something else can be told from one of the article asked about",
    )
    ap.add_argument(
        "--span",
        action="store_true",
        help="train a span head beside the logit (added fresh to a continued model that has "
        "none): where the answer lies in the answering sentence, the first token elsewhere",
    )
    ap.add_argument("--span-weight", type=float, default=1.0, help="the span loss's weight")
    ap.add_argument("--span-lr", type=float, default=1e-3, help="the span head's learning rate")
    ap.add_argument("--lr", type=float, default=4e-5)
    ap.add_argument("--warmup", type=int, default=60)
    ap.add_argument("--held-share", type=float, default=HELD_SHARE)
    ap.add_argument("--held-questions", type=int, default=1500)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument(
        "--device",
        default="cpu",
        help="torch device to train on: cpu (the default; about 1 s a step on 2 cores) or "
        "cuda, where torch has a GPU; the model written is the same either way",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument(
        "--continue-from",
        help="a trained model's folder: train it further on questions of the paragraphs it "
        "trained on (its seed is kept, and its layers unless --layers grows it)",
    )
    args = ap.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # recorded with the model
    if (args.again or args.measure_only) and not args.continue_from:
        ap.error("--again and --measure-only need --continue-from")
    if args.draws is not None and (args.continue_from or args.draws < 1):
        ap.error("--draws: a positive count, for a run from scratch (not with --continue-from)")
    if args.mine and args.pipeline_groups:
        ap.error("--mine and --pipeline-groups: one or the other")
    if args.mine and args.dated_questions:
        ap.error(
            "--mine and --dated-questions: one or the other (mining reads one group a question)"
        )
    if args.pipeline_groups and not Path(args.pipeline_groups).is_file():
        ap.error(
            f"--pipeline-groups: no such file {args.pipeline_groups} (write one with "
            "`python -m eval.fit --data DIR --pipeline-groups FILE`)"
        )
    if args.swap_source and not args.swap:
        ap.error("--swap-source needs --swap: it pairs the swapped question with another sentence")
    if args.retitle and not (args.titles or args.continue_from):
        ap.error("--retitle needs --titles: a reader that reads no title cannot be misled by one")
    had = continued_layers(ap, args.continue_from)
    if args.layers is not None and had is not None and args.layers < had:
        ap.error("--layers: a continued model can grow, not shrink")
    args.layers = args.layers or had or 4  # more layers: the added ones start as the base's
    check_device(ap, args.device)
    if not (Path(args.data) / FILES[0]).is_file():
        sys.exit(f"error: no SQuAD-shifts files in {args.data} (expected {', '.join(FILES)})")
    train(args)


def continued_layers(ap: argparse.ArgumentParser, folder: str | None) -> int | None:
    """The layers of the model ``--continue-from`` names; a missing model is an argument error."""
    if not folder:
        return None
    try:
        return load_config(Path(folder)).layers
    except RagError as e:
        ap.error(f"--continue-from: {e}")


def check_device(ap: argparse.ArgumentParser, device: str) -> None:
    """Refuse a device torch cannot use here with a message, before any data is read."""
    import torch

    try:
        dev = torch.device(device)
    except RuntimeError:
        ap.error(f"--device {device}: not a torch device (use cpu or cuda)")
    if dev.type == "cuda" and not torch.cuda.is_available():
        ap.error(f"--device {device}: this torch sees no CUDA device (the CPU build, or no GPU)")
    if dev.type not in ("cpu", "cuda"):
        ap.error(f"--device {device}: only cpu and cuda are supported")


if __name__ == "__main__":
    main()
