"""The eval's measures: retrieval (via ir-measures), answers, citations, grounding, abstention.

Each function is pure and small, so it can be checked on hand-made inputs.

>>> answer_hit("Russia recaptured 86% of it. [1]", ["86%"])
True
>>> round(token_f1("the Denver Broncos won", "Denver Broncos"), 3)
0.8
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rag.clean import HYPHENS
from rag.errors import LoadError

RECALL_KS = (1, 3, 5, 10)
_MARKER_RE = re.compile(r"\s*\[\d+\]")
_ARTICLES_RE = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation)


# -- SQuAD's answer measures ------------------------------------------------------------------
def normalize_answer(text: str) -> str:
    """SQuAD v1.1's official normalisation: lower case, no punctuation, no articles, one space.

    >>> normalize_answer("The  U.S. Senate!")
    'us senate'
    """
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCT)
    text = _ARTICLES_RE.sub(" ", text)
    return " ".join(text.split())


def exact_match(prediction: str, gold: str) -> float:
    return float(normalize_answer(prediction) == normalize_answer(gold))


def token_f1(prediction: str, gold: str) -> float:
    """SQuAD's token F1 between two normalised strings."""
    pred = normalize_answer(prediction).split()
    ref = normalize_answer(gold).split()
    common = Counter(pred) & Counter(ref)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision = same / len(pred)
    recall = same / len(ref)
    return 2 * precision * recall / (precision + recall)


def best_em_f1(quotes: Sequence[str], golds: Sequence[str]) -> tuple[float, float, str | None]:
    """EM and F1 of the best quote against its best gold answer (SQuAD takes the max over golds);
    the quote with the highest F1 is returned with them."""
    best: tuple[float, float, str | None] = (0.0, 0.0, None)
    for q in quotes:
        em = max((exact_match(q, g) for g in golds), default=0.0)
        f1 = max((token_f1(q, g) for g in golds), default=0.0)
        if best[2] is None or (f1, em) > (best[1], best[0]):
            best = (em, f1, q)
    return best


def strip_markers(answer: str) -> str:
    """The answer text without its ``[n]`` citation markers."""
    return _MARKER_RE.sub("", answer).strip()


def _match_form(text: str) -> str:
    """SQuAD's normalisation for containment: every punctuation mark or symbol, ASCII or not
    (curly quotes, dashes), becomes a space rather than vanishing, so ``“terrorists”`` and
    ``Putin’s`` still hold the whole words ``terrorists`` and ``Putin``."""
    text = "".join(
        " " if ch in _PUNCT or unicodedata.category(ch)[0] in "PS" else ch for ch in text.lower()
    )
    return " ".join(_ARTICLES_RE.sub(" ", text).split())


def contains_answer(text: str, golds: Iterable[str]) -> bool:
    """An accepted answer appears in the text as whole words, both normalised.

    Whole words, so ``400`` is not found in ``4000``.
    """
    hay = f" {_match_form(text)} "
    for g in golds:
        needle = _match_form(g)
        if needle and f" {needle} " in hay:
            return True
    return False


def answer_hit(answer: str, golds: Sequence[str]) -> bool:
    """The answer text (markers removed) contains an accepted answer."""
    return contains_answer(strip_markers(answer), golds)


def word_count(answer: str) -> int:
    return len(strip_markers(answer).split())


# -- citations ----------------------------------------------------------------------------
def citation_precision_recall(
    cited: Iterable[str], gold: Iterable[str]
) -> tuple[float | None, float | None]:
    """Share of cited sources that are gold, and of gold sources that are cited.

    ``None`` where it is undefined (nothing cited; no gold sources).
    """
    c, g = set(cited), set(gold)
    precision = len(c & g) / len(c) if c else None
    recall = len(c & g) / len(g) if g else None
    return precision, recall


# -- grounding ----------------------------------------------------------------------------
# what a cleaner may drop from inside a quoted run: a link's target, markdown emphasis
_LINK_TARGET_RE = re.compile(r"\]\([^)\n]*\)")


def _alnum(text: str) -> str:
    return "".join(ch for ch in text if ch.isalnum())


_LINE_HYPHEN_RE = re.compile(rf"[{HYPHENS}][ \t]*\r?\n[ \t]*")


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text)


def _in_order(needles: Sequence[str], hay: Sequence[str], joins: Sequence[bool] = ()) -> bool:
    """Do the ``needles`` occur in ``hay`` in order? ``joins[k]``: ``hay[k]`` and ``hay[k + 1]``
    are one word broken at a line's end, which the cleaner may have made whole again."""
    k = 0
    for w in needles:
        while k < len(hay):
            if w == hay[k]:
                k += 1
                break
            if k + 1 < len(hay) and k < len(joins) and joins[k] and w == hay[k] + hay[k + 1]:
                k += 2
                break
            k += 1
        else:
            return False
    return True


def _words_and_joins(text: str) -> tuple[list[str], list[bool]]:
    """``_words(text)``, and for each whether it and the next are one word broken by a hyphen
    at a line's end ("archi-\ntecture")."""
    found = list(re.finditer(r"\w+", text))
    joins = [
        bool(_LINE_HYPHEN_RE.fullmatch(text[a.end() : b.start()]))
        for a, b in zip(found, found[1:], strict=False)
    ]
    return [m.group() for m in found], joins


@dataclass(frozen=True)
class Grounding:
    ok: bool
    reason: str = ""


def check_span(original: str, start: int, end: int, quote: str) -> Grounding:
    """Does ``original[start:end]`` hold ``quote``?

    Whitespace, punctuation and markup (a markdown link's ``](target)``) that a cleaner drops
    are ignored: the alphanumeric characters must be identical, and the quote's words must
    appear in the same order.
    """
    if not 0 <= start < end <= len(original):
        return Grounding(False, f"offsets {start}:{end} outside the file (length {len(original)})")
    span = original[start:end]
    visible = _LINK_TARGET_RE.sub("]", span)
    if _alnum(visible) != _alnum(quote):
        return Grounding(
            False, f"original[{start}:{end}] differs from the quote: {_diff(visible, quote)}"
        )
    if not _in_order(_words(quote), *_words_and_joins(visible)):
        return Grounding(False, f"the quote's words are not in order in original[{start}:{end}]")
    return Grounding(True)


def _short(text: str, n: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def _diff(span: str, quote: str) -> str:
    """Where the alphanumeric characters of the file and the quote first part, in words."""
    a = [(i, ch) for i, ch in enumerate(span) if ch.isalnum()]
    b = [(i, ch) for i, ch in enumerate(quote) if ch.isalnum()]
    k = next(
        (j for j, (x, y) in enumerate(zip(a, b, strict=False)) if x[1] != y[1]), min(len(a), len(b))
    )
    at_a = a[k][0] if k < len(a) else len(span)
    at_b = b[k][0] if k < len(b) else len(quote)
    return f"the file has {_short(span[at_a:])!r} where the quote has {_short(quote[at_b:])!r}"


class GroundingChecker:
    """Re-reads each cited file once with the loader's ``read_original`` and checks spans."""

    def __init__(self, corpus_dir: Path, max_bytes: int = 20_000_000) -> None:
        self.corpus_dir = Path(corpus_dir)
        self.max_bytes = max_bytes
        self._cache: dict[str, str | Grounding] = {}

    def original(self, source: str) -> str | Grounding:
        if source not in self._cache:
            from rag.load import read_original

            path = self.corpus_dir / source
            if not path.is_file():
                self._cache[source] = Grounding(
                    False, f"cited file {source} is not in {self.corpus_dir}"
                )
            else:
                try:
                    self._cache[source] = read_original(path, source, self.max_bytes)[0]
                except LoadError as e:
                    self._cache[source] = Grounding(False, f"cannot re-read {source}: {e}")
        return self._cache[source]

    def check(self, source: str, start: int, end: int, quote: str) -> Grounding:
        text = self.original(source)
        if isinstance(text, Grounding):
            return text
        return check_span(text, start, end, quote)


# -- retrieval (ir-measures computes; we only shape the input) --------------------------------
def dedupe_sources(sources: Iterable[str]) -> list[str]:
    """Chunk sources in rank order, each file once (at its best rank)."""
    return list(dict.fromkeys(sources))


def retrieval_scores(
    rankings: Mapping[str, Sequence[str]], gold: Mapping[str, Sequence[str]]
) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """Recall@1/3/5/10, MRR and nDCG@10 of source rankings against gold sources.

    Computed by ir-measures (pytrec_eval); the mean runs over every question in ``gold``
    with at least one gold source, and a question with an empty ranking scores 0.
    Returns ``(means, per_question)``.
    """
    import ir_measures
    from ir_measures import RR, R, nDCG

    measures = {f"recall@{k}": R @ k for k in RECALL_KS}
    measures["mrr"] = RR
    measures["ndcg@10"] = nDCG @ 10
    qids = [q for q, g in gold.items() if g]
    qrels = [ir_measures.Qrel(q, doc, 1) for q in qids for doc in dict.fromkeys(gold[q])]
    ranked = {q: dedupe_sources(rankings.get(q, ())) for q in qids}
    # scores strictly fall with rank, so pytrec_eval keeps our order
    run = [
        ir_measures.ScoredDoc(q, doc, float(len(ranked[q]) - rank))
        for q in qids
        for rank, doc in enumerate(ranked[q])
    ]
    per: dict[str, dict[str, float]] = {q: dict.fromkeys(measures, 0.0) for q in qids}
    names = {str(m): name for name, m in measures.items()}
    if qrels and run:
        for metric in ir_measures.iter_calc(list(measures.values()), qrels, run):
            per[metric.query_id][names[str(metric.measure)]] = float(metric.value)
    means = {
        name: (float(np.mean([per[q][name] for q in qids])) if qids else float("nan"))
        for name in measures
    }
    return means, per


# -- abstention and latency -----------------------------------------------------------------
def abstention_scores(outcomes: Iterable[tuple[bool, bool]]) -> dict[str, float | None]:
    """From ``(answerable, abstained)`` pairs: precision and recall of abstaining on the
    unanswerable questions, and the share of answerable questions wrongly abstained on."""
    tp = fp = fn = false_abst = answerable = 0
    for is_answerable, abstained in outcomes:
        if is_answerable:
            answerable += 1
            if abstained:
                fp += 1
                false_abst += 1
        elif abstained:
            tp += 1
        else:
            fn += 1
    return {
        "abstention_precision": tp / (tp + fp) if tp + fp else None,
        "abstention_recall": tp / (tp + fn) if tp + fn else None,
        "false_abstention": false_abst / answerable if answerable else None,
    }


def percentile(values: Sequence[float], p: float) -> float | None:
    """The ``p``-th percentile (linear interpolation), or None for no values: the one
    percentile behind every p50 / p95 the project prints (eval, bench, load test).

    >>> percentile([10, 20, 30, 40], 50), percentile([], 95)
    (25.0, None)
    """
    return float(np.percentile(np.asarray(values, dtype=float), p)) if len(values) else None


# -- the "sources differ" flag ------------------------------------------------------------------
def disagreement_scores(outcomes: Iterable[tuple[bool, bool]]) -> dict[str, float | int | None]:
    """From ``(documents differ, answer flagged)`` pairs of the questions judged for it:
    precision and recall of the answer's "sources differ" flag.

    >>> disagreement_scores([(True, True), (True, False), (False, True), (False, False)])
    {'disagreement_judged': 4, 'disagreement_precision': 0.5, 'disagreement_recall': 0.5}
    """
    pairs = list(outcomes)
    tp = sum(e and f for e, f in pairs)
    flagged = sum(f for _, f in pairs)
    differ = sum(e for e, _ in pairs)
    return {
        "disagreement_judged": len(pairs),
        "disagreement_precision": tp / flagged if flagged else None,
        "disagreement_recall": tp / differ if differ else None,
    }
