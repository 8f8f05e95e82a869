"""Readers: what decides which retrieved sentences answer a question, and whether any does.

A ``Reader`` takes the question and the candidate sentences and returns a ``Decision``: the
candidates ranked, the ones to quote, the probability that the first of them answers, and the
reason when it abstains. Two ship, swappable in ``Index.ask`` and compared in ``rag eval``:

* ``LearnedReader`` (the default): logistic models fitted on SQuAD-shifts (``rag/features.py``)
  weigh each candidate's signals; the cross-encoder of ``rag/crossencoder.py`` reads the best
  few (its logit, and its span head's score for the best answer phrase), and
  the resulting probability ranks them and decides abstention against a threshold chosen
  on held-out training data.
* ``RuleReader``: the hand-set scorer and abstention rules of ``rag/answer.py``.

>>> reader = LearnedReader()                                          # doctest: +SKIP
>>> d = reader.read(question, qvec, candidates, lookup)               # doctest: +SKIP
>>> d.confidence, d.reason                                            # doctest: +SKIP
(0.93, None)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Literal, Protocol

import numpy as np

from rag.answer import (
    AnswerPolicy,
    Candidate,
    Decision,
    Scored,
    WordVec,
    byline_answer,
    decide,
    score_candidates,
)
from rag.features import FIRST_FEATURES, ReaderModels, candidate_rows, load_models, read_rows
from rag.types import Byline

ReaderName = Literal["learned", "rules"]
READERS: tuple[ReaderName, ...] = ("learned", "rules")


@dataclass(frozen=True)
class Lookup:
    """What a reader may ask of the index about the words and documents of a question."""

    idf: Callable[[str], float]
    knows: Callable[[str], bool]
    knows_name: Callable[[str], bool]
    word_vec: WordVec | None
    byline: Callable[[str], Byline | None]
    # the sentence before a candidate in its document (None at the start)
    before: Callable[[Candidate], Candidate | None]
    # the question's content word pieces from its embedding pass (rag/late.py), when the
    # embedder gives them
    question_pieces: np.ndarray | None = None


class Reader(Protocol):
    """Question and candidates in; ranked candidates, the pick, a probability out."""

    name: str

    def warm_up(self) -> None: ...

    def read(
        self, question: str, qvec: np.ndarray, cands: Sequence[Candidate], look: Lookup
    ) -> Decision: ...


class RuleReader:
    """The hand-set answerer: weighted signals and abstention rules (``rag.answer.decide``).
    It has no calibrated probability, so its decisions carry none."""

    name = "rules"

    def __init__(self, policy: AnswerPolicy | None = None) -> None:
        self.policy = policy or AnswerPolicy()

    def warm_up(self) -> None:
        return None

    def read(
        self, question: str, qvec: np.ndarray, cands: Sequence[Candidate], look: Lookup
    ) -> Decision:
        return decide(
            question,
            qvec,
            cands,
            look.idf,
            look.knows,
            self.policy,
            knows_name=look.knows_name,
            word_vec=look.word_vec,
            byline=look.byline,
        )


def first_pass(
    question: str, qvec: np.ndarray, cands: Sequence[Candidate], look: Lookup
) -> tuple[list[Scored], np.ndarray]:
    """Every candidate's signals (``score_candidates``) and its row of ``FIRST_FEATURES``: what
    the learned reader weighs, and what ``python -m eval.fit`` records to fit the weights."""
    ranked = score_candidates(question, qvec, cands, look.idf, AnswerPolicy(), look.word_vec)
    late = late_scores(look.question_pieces, ranked)
    return ranked, candidate_rows(question, ranked, look.knows, look.knows_name, late)


def late_scores(
    pieces: np.ndarray | None, ranked: Sequence[Scored]
) -> tuple[np.ndarray, np.ndarray] | None:
    """Each candidate's late-interaction scores (``rag.late``: how well the question's word
    pieces are met, and its least-met one), or None without the question's word pieces (an
    embedder that gives none)."""
    if pieces is None:
        return None
    from rag.late import shared_late

    model = shared_late()
    return model.matches(model.question(pieces), [s.cand.tokens for s in ranked])


class LearnedReader:
    """Fitted weights over every candidate's signals, then the cross-encoder on the best few.

    The ``first`` model (``rag/features.py``, fitted on SQuAD-shifts) gives each candidate a
    probability from its first-pass signals; the cross-encoder reads the ``read_top`` best
    with the question (and the head of the sentence before), and the ``read`` model turns
    their signals plus its logit into the probability that each answers. The answer is the
    best, plus the next ones read whose probability reaches ``also`` (up to ``max_sentences``);
    it abstains when the best's probability is under the threshold. Both are chosen on
    held-out training data (``python -m eval.fit``).
    """

    name = "learned"

    def __init__(self, encoder: object | None = None, models: ReaderModels | None = None) -> None:
        from rag.crossencoder import CrossEncoder

        self.encoder = encoder if encoder is not None else CrossEncoder()
        self.models = models or load_models()

    @property
    def threshold(self) -> float:
        return self.models.threshold

    def warm_up(self) -> None:
        self.encoder.warm_up()  # type: ignore[attr-defined]

    def read(
        self, question: str, qvec: np.ndarray, cands: Sequence[Candidate], look: Lookup
    ) -> Decision:
        m = self.models
        scored, rows = first_pass(question, qvec, cands, look)
        if not scored:
            return Decision([], [], "nothing in the index matches the question", 0.0)
        if rows[0, FIRST_FEATURES.index("unknown_share")] >= 1.0:
            # no evidence to weigh: not one word of the question occurs in the documents
            return Decision(scored, [], "none of the question's words occur in the documents", 0.0)
        p_first = m.first.probabilities(rows)
        order = sorted(range(len(scored)), key=lambda i: (-p_first[i], i))
        top = order[: m.read_top]
        pairs = [(scored[i].cand.text, sentence_before(look, scored[i].cand)) for i in top]
        titles = [scored[i].cand.title for i in top]
        seen = self.encoder.read(question, pairs, titles)  # type: ignore[attr-defined]
        p_read = m.read.probabilities(read_rows(rows[top], seen.logits, seen.spans))
        read = sorted(range(len(top)), key=lambda j: (-p_read[j], j))
        ranked = [replace(scored[top[j]], probability=float(p_read[j])) for j in read]
        ranked += [replace(scored[i], probability=float(p_first[i])) for i in order[m.read_top :]]
        best = ranked[0]
        p = best.probability or 0.0
        if p < m.threshold:
            reason = (
                f"the best sentence found answers with probability {p:.2f}, under the "
                f"{m.threshold:.2f} this reader needs"
            )
            return Decision(ranked, [], reason, p)
        chosen = [best]
        for s in ranked[1 : len(read)]:
            if len(chosen) == m.max_sentences:
                break
            if (s.probability or 0.0) >= max(m.also, m.threshold) and all(
                s.cand.text != c.cand.text for c in chosen
            ):
                chosen.append(s)
        by = byline_answer(question, ranked, look.byline)
        return Decision(ranked, by or chosen, None, p)


def sentence_before(look: Lookup, cand: Candidate) -> str | None:
    """The text of the sentence before ``cand`` in its document, unless that is a heading."""
    prev = look.before(cand)
    return None if prev is None or prev.heading else prev.text


def make_reader(name: str) -> Reader:
    """The reader called ``name`` ("learned" or "rules")."""
    from rag.errors import InputError

    if name == "learned":
        return LearnedReader()
    if name == "rules":
        return RuleReader()
    raise InputError(f"unknown reader {name!r}: choose from {', '.join(READERS)}")
