"""What the learned reader weighs: a row of numbers per candidate sentence, and the fitted
logistic models that turn a row into the probability that the sentence answers.

The rows hold the first pass's signals (meaning, word coverage, late interaction of the
question's and the sentence's word pieces, the sentence before, whether it gives the asked
kind of thing), where the candidate stands among the others, and the
question's own signs of being off the documents (names the corpus never mentions, names no
retrieved passage mentions). Wording rules enter only here, as numbers a model weighs,
never as vetoes. The weights are fitted on SQuAD-shifts by ``python -m eval.fit``; the
cross-encoder's logit is one more column for the few candidates it reads.

>>> rows = candidate_rows(question, ranked, look)                       # doctest: +SKIP
>>> model = load_models().first; model.probabilities(rows)              # doctest: +SKIP
array([0.81, 0.07, ...])
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rag.answer import (
    Scored,
    asked_attribute,
    expected_type,
    names_not_retrieved,
    needs_previous,
    unknown_terms,
)
from rag.errors import RagError

MODELS_FILE = Path(__file__).resolve().parent / "models" / "reader" / "combiner.json"

KINDS = ("number", "date", "place", "person")
# one column each; the order is the stored weights' order
QUESTION_FEATURES = (
    *(f"asks_{k}" for k in KINDS),
    "unknown_name",  # a name of the question the documents never mention
    "unknown_share",  # share of the question's words the documents never use
    "name_not_retrieved",  # a known name no retrieved passage mentions
    "attribute_unknown",  # "what is the X of ..." and the documents never say X
    "best_cosine",
    "best_coverage",
)
SENTENCE_FEATURES = (
    "cosine",
    "coverage",
    "context",
    "typed",  # holds the asked kind of thing (only when the question asks a kind)
    "reason",
    "dated",
    "passage_score",
    "cosine_gap",  # to the best candidate's
    "coverage_gap",
    "cosine_rank",  # 1 / (1 + place among the candidates by meaning)
    "coverage_rank",
    "log_words",
    "needs_previous",
    "late",  # how well the question's word pieces are met in the sentence (rag/late.py)
    "late_gap",  # to the best candidate's
    "late_rank",
    "late_least",  # the best match of the question's least-met word piece
)
FIRST_FEATURES = QUESTION_FEATURES + SENTENCE_FEATURES
# the cross-encoder's logit and span score (rag/crossencoder.py), each with its gap to the best
READ_FEATURES = FIRST_FEATURES + ("ce_logit", "ce_gap", "span", "span_gap")


def question_row(
    question: str,
    ranked: Sequence[Scored],
    knows: Callable[[str], bool],
    knows_name: Callable[[str], bool] | None,
) -> list[float]:
    kind = expected_type(question)
    names, share = unknown_terms(question, knows, knows_name)
    absent = names_not_retrieved(question, ranked, knows) if ranked else []
    head = asked_attribute(question)
    return [
        *(float(kind == k) for k in KINDS),
        float(bool(names)),
        share,
        float(bool(absent)),
        float(bool(head) and not knows(head or "")),
        max((s.cosine for s in ranked), default=0.0),
        max((s.coverage for s in ranked), default=0.0),
    ]


def candidate_rows(
    question: str,
    ranked: Sequence[Scored],
    knows: Callable[[str], bool],
    knows_name: Callable[[str], bool] | None = None,
    late: tuple[np.ndarray, np.ndarray] | None = None,
) -> np.ndarray:
    """One row of ``FIRST_FEATURES`` per scored candidate, in the given order; ``late`` is
    each one's late-interaction scores (``rag.late``: met, least met; 0 when none)."""
    if not ranked:
        return np.zeros((0, len(FIRST_FEATURES)))
    q = question_row(question, ranked, knows, knows_name)
    asks = expected_type(question) is not None
    cos = np.array([s.cosine for s in ranked])
    cov = np.array([s.coverage for s in ranked])
    cos_rank = _ranks(cos)
    cov_rank = _ranks(cov)
    lat, least = (np.zeros(len(ranked)),) * 2 if late is None else late
    lat_rank = _ranks(lat)
    rows = []
    for i, s in enumerate(ranked):
        rows.append(
            q
            + [
                s.cosine,
                s.coverage,
                s.context,
                float(asks and s.typed),
                float(s.reason),
                float(s.dated),
                s.cand.passage_score,
                float(cos.max() - s.cosine),
                float(cov.max() - s.coverage),
                1.0 / (1.0 + cos_rank[i]),
                1.0 / (1.0 + cov_rank[i]),
                math.log1p(len(s.cand.text.split())),
                float(needs_previous(s.cand.text)),
                float(lat[i]),
                float(lat.max() - lat[i]),
                1.0 / (1.0 + lat_rank[i]),
                float(least[i]),
            ]
        )
    return np.array(rows, dtype=np.float64)


def read_rows(
    first: np.ndarray, ce_logits: np.ndarray, spans: np.ndarray | None = None
) -> np.ndarray:
    """``READ_FEATURES`` rows: the first-pass rows of the candidates read, with the
    cross-encoder's logit and span score (0 without a span head), each with its distance to
    the best read."""
    ce = np.asarray(ce_logits, dtype=np.float64)
    if not len(ce):
        return np.zeros((0, len(READ_FEATURES)))
    sp = np.zeros_like(ce) if spans is None else np.asarray(spans, dtype=np.float64)
    return np.column_stack([first, ce, ce.max() - ce, sp, sp.max() - sp])


def _ranks(values: np.ndarray) -> np.ndarray:
    order = np.argsort(-values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(len(values))
    return ranks


@dataclass(frozen=True)
class Logistic:
    """``P = sigmoid(w · (x - mean) / scale + b)``: a fitted logistic regression, stored as
    numbers (no pickled code is ever loaded)."""

    features: tuple[str, ...]
    mean: tuple[float, ...]
    scale: tuple[float, ...]
    weights: tuple[float, ...]
    bias: float

    def probabilities(self, rows: np.ndarray) -> np.ndarray:
        if len(rows) == 0:
            return np.zeros(0)
        z = (rows - np.array(self.mean)) / np.array(self.scale) @ np.array(self.weights)
        return 1.0 / (1.0 + np.exp(-np.clip(z + self.bias, -60, 60)))


@dataclass(frozen=True)
class ReaderModels:
    """The learned reader's fitted parts: the first-pass model over every candidate, the
    model over the ``read_top`` best of them with the cross-encoder's logit, the abstention
    threshold on the latter's probability, and how many sentences an answer quotes (all
    chosen on training data by ``python -m eval.fit``, which records how)."""

    first: Logistic
    read: Logistic
    read_top: int
    threshold: float
    also: float  # a further sentence joins the answer at this probability
    max_sentences: int = 2  # quoted in an answer, at most
    training: dict[str, Any] = field(default_factory=dict, compare=False)

    def save(self, path: Path = MODELS_FILE) -> None:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(asdict(self), indent=1) + "\n", encoding="utf-8")
        tmp.chmod(0o644)
        tmp.replace(path)


def load_models(path: Path = MODELS_FILE) -> ReaderModels:
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RagError(
            f"the learned reader's fitted models are missing ({path}): reinstall the project, "
            "or fit them with `python -m eval.fit`"
        ) from None

    def logistic(d: dict[str, Any], expect: tuple[str, ...]) -> Logistic:
        model = Logistic(
            tuple(d["features"]),
            tuple(d["mean"]),
            tuple(d["scale"]),
            tuple(d["weights"]),
            float(d["bias"]),
        )
        if model.features != expect:
            raise RagError(
                f"the learned reader's models in {path} were fitted on other features: fit "
                "them again with `python -m eval.fit`"
            )
        return model

    return ReaderModels(
        first=logistic(raw["first"], FIRST_FEATURES),
        read=logistic(raw["read"], READ_FEATURES),
        read_top=int(raw["read_top"]),
        threshold=float(raw["threshold"]),
        also=float(raw["also"]),
        max_sentences=int(raw.get("max_sentences", 2)),
        training=raw.get("training", {}),
    )
