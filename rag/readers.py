"""Readers: what decides which retrieved sentences answer a question, and whether any does.

A ``Reader`` takes the question and the candidate sentences and returns a ``Decision``: the
candidates ranked, the ones to quote, the probability that the first of them answers, and the
reason when it abstains. Two ship, swappable in ``Index.ask`` and compared in ``rag eval``:

* ``LearnedReader`` (the default): the cross-encoder of ``rag/crossencoder.py``, trained on
  SQuAD-shifts, reads the question with each of the best candidates; its calibrated
  probability ranks them and decides abstention against the threshold chosen in training.
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
    WordVec,
    byline_answer,
    decide,
    score_candidates,
)
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


@dataclass(frozen=True)
class ReadPolicy:
    """How the learned reader turns probabilities into an answer."""

    # candidates read by the cross-encoder: the best of the cheap first-pass score (meaning,
    # word coverage); reading costs about 7 ms a sentence on two cores
    read_top: int = 8
    max_sentences: int = 2
    # a further sentence joins the answer when it, too, more likely answers than not
    also: float = 0.5


class LearnedReader:
    """The trained cross-encoder's reading of the best candidates, calibrated.

    A first pass (``score_candidates``: meaning, word coverage) keeps the ``read_top`` best
    candidates; the cross-encoder reads each with the question (and the head of the sentence
    before it). The candidates are then ranked by its probability; the answer is the best,
    plus the next when that also more likely answers than not; it abstains when the best's
    probability is under the threshold fitted in training (``rag/models/reader/config.json``).
    """

    name = "learned"

    def __init__(
        self,
        encoder: object | None = None,
        policy: ReadPolicy | None = None,
        first_pass: AnswerPolicy | None = None,
    ) -> None:
        from rag.crossencoder import CrossEncoder

        self.encoder = encoder if encoder is not None else CrossEncoder()
        self.policy = policy or ReadPolicy()
        self.first_pass = first_pass or AnswerPolicy()

    @property
    def threshold(self) -> float:
        return float(self.encoder.config.threshold)  # type: ignore[attr-defined]

    def warm_up(self) -> None:
        self.encoder.warm_up()  # type: ignore[attr-defined]

    def read(
        self, question: str, qvec: np.ndarray, cands: Sequence[Candidate], look: Lookup
    ) -> Decision:
        first = score_candidates(
            question, qvec, cands, look.idf, self.first_pass, look.word_vec
        )
        if not first:
            return Decision([], [], "nothing in the index matches the question", 0.0)
        top = first[: self.policy.read_top]
        pairs = [(s.cand.text, _before_text(look, s.cand)) for s in top]
        logits = self.encoder.logits(question, pairs)  # type: ignore[attr-defined]
        cfg = self.encoder.config  # type: ignore[attr-defined]
        probs = [cfg.probability(float(v)) for v in logits]
        order = sorted(range(len(top)), key=lambda i: (-logits[i], i))
        ranked = [replace(top[i], probability=probs[i]) for i in order]
        ranked += first[self.policy.read_top :]
        best = ranked[0]
        p = best.probability or 0.0
        if p < self.threshold:
            reason = (
                f"the best sentence found answers with probability {p:.2f}, under the "
                f"{self.threshold:.2f} this reader needs"
            )
            return Decision(ranked, [], reason, p)
        chosen = [best]
        for s in ranked[1 : self.policy.max_sentences]:
            if (s.probability or 0.0) >= max(self.policy.also, self.threshold) and all(
                s.cand.text != c.cand.text for c in chosen
            ):
                chosen.append(s)
        by = byline_answer(question, ranked, look.byline)
        return Decision(ranked, by or chosen, None, p)


def _before_text(look: Lookup, cand: Candidate) -> str | None:
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
