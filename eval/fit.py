"""Fit the learned reader's weighing (``rag/features.py``) on SQuAD-shifts, through the real
pipeline, and only on SQuAD-shifts.

    python -m eval.fit --data ../shared/datasets/train-squadshifts

Paragraphs of SQuAD-shifts become corpora the way ``rag eval --squad`` makes them of a
measuring set: one document per paragraph, a fifth of the articles left out so that their
questions are unanswerable. Questions a reader must refuse although their paragraph is there
come from the data too: in a share of the paragraphs (``REMOVED_SHARE``) the sentences holding
one question's answer are cut out, so that question and any other whose answer they held meet
the rest of their own paragraph, which still reads as if it answered (``remove_answers``);
and a share of the answerable questions is asked again with one of their names swapped for
one their paragraph never mentions (``swap_names``).
Each corpus is indexed by the real pipeline and every sampled
question goes through ``Index.ask`` with a reader that records the candidates it is handed
and their feature rows instead of deciding. A candidate is labelled as answering when it is a
sentence of the question's own paragraph holding one of its answers.

Only paragraphs none of whose questions trained the cross-encoder (``rag/train.py``, its
recorded seed and question count) are used, so its logit is weighed as it behaves on
questions and sentences it has not been trained on.

Two logistic regressions are fitted (scikit-learn): ``first`` over every candidate's row, and
``read`` over the rows of the ``read_top`` candidates ``first`` ranks best, with the
cross-encoder's logit. The corpora fall in two folds; each fold is predicted by models fitted
on the other, and on those out-of-fold probabilities the abstention threshold is chosen:
the highest probability at which at most 3% (``rag.train.FALSE_ABSTENTION_BUDGET``) of the
questions whose answering sentence was among the candidates are refused (``choose_threshold``).
The models written are then fitted on both folds. XQuAD and ``eval/qa.jsonl`` are
never read here.

With ``--by-source`` it fits nothing and writes nothing: it judges each source's corpora by
models fitted on the other sources' (``by_source``), which shows how the fit and its threshold
carry to a kind of text they were not fitted on.

With ``--by-overlap`` it fits nothing and writes nothing: it shows, out of fold, how the
pipeline does on answerable questions by how many of their words the answering sentence
repeats (``by_overlap``): a question put in other words is found and answered less often.

With ``--pipeline-groups FILE`` it fits nothing: it asks the questions of corpora made the
same way of the paragraphs the cross-encoder did train on, and writes per question the
candidates the first model would hand the cross-encoder, as training groups for
``python -m rag.train --pipeline-groups FILE``.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from eval.dataset import QAItem, load_squad
from eval.metrics import contains_answer
from rag.answer import Candidate, Decision, needs_previous
from rag.crossencoder import WEIGHTS, load_config
from rag.features import (
    FIRST_FEATURES,
    MODELS_FILE,
    READ_FEATURES,
    Logistic,
    ReaderModels,
    read_rows,
)
from rag.readers import Lookup, first_pass, sentence_before
from rag.settings import Settings
from rag.train import (
    FALSE_ABSTENTION_BUDGET,
    FILES,
    NamePool,
    Paragraph,
    load,
    paragraph_sentences,
    sha256,
    swapped,
    trained_paragraphs,
)

LEFT_OUT_SHARE = 0.2  # as `rag eval --squad` leaves out
# paragraphs whose sentences holding one question's answer are cut out (remove_answers)
REMOVED_SHARE = 0.3
# answerable questions also asked with one of their names swapped (swap_names)
SWAPPED_SHARE = 0.3
WORD_BUDGET = 40  # the median answer's words, on every corpus (choose_quoting)
PIPELINE_TOP = 5  # candidates per recorded training group (--pipeline-groups)
ALSO_GRID = (0.9, 0.7, 0.5, 0.4, 0.3, 0.2, 0.15, 0.1, 0.05)


@dataclass
class Asked:
    """One question as the pipeline handed it to the reader."""

    question: str
    corpus: int
    answerable: bool
    rows: np.ndarray  # FIRST_FEATURES, one per candidate
    labels: np.ndarray  # 1.0 where the candidate answers
    pairs: list[tuple[str, str | None]]  # (sentence, sentence before) per candidate
    # candidate -> the cross-encoder's logit and span score
    ce: dict[int, tuple[float, float]] = field(default_factory=dict)
    # "squad" (answerable), "left-out" (its article is not in the corpus), "answer-removed"
    # or "name-swapped"
    kind: str = "squad"
    titles: list[str] = field(default_factory=list)  # each candidate's document title


class Recorder:
    """A reader that decides nothing: it keeps what ``LearnedReader`` would weigh."""

    name = "record"

    def __init__(self) -> None:
        self.last: (
            tuple[list[Any], np.ndarray, list[tuple[str, str | None]], list[str]] | None
        ) = None

    def warm_up(self) -> None:
        return None

    def read(
        self, question: str, qvec: np.ndarray, cands: Sequence[Candidate], look: Lookup
    ) -> Decision:
        ranked, rows = first_pass(question, qvec, cands, look)
        pairs = [(s.cand.text, sentence_before(look, s.cand)) for s in ranked]
        self.last = (ranked, rows, pairs, [s.cand.title for s in ranked])
        return Decision(ranked, [], "recorded, not read", None)


def corpora(
    data: Path,
    seed: int,
    groups: int,
    files: Sequence[str] = FILES,
    articles: int | None = None,
    trained: bool = False,
) -> list[tuple[str, dict[str, Any]]]:
    """SQuAD-shaped corpora of the paragraphs the cross-encoder never trained on (with
    ``trained``, of those it trained on), ``groups`` per file, each file's articles dealt out
    in turn (at most ``articles`` a corpus). A Reddit post is its own article."""
    ce = load_config().training  # the shipped cross-encoder's seed and trained questions
    paras, qs, _ = load(data)
    touched = {paras[i].context for i in trained_paragraphs(paras, qs, ce)}
    rng = random.Random(seed)
    out = []
    for name in files:
        raw = json.loads((data / name).read_text(encoding="utf-8"))["data"]
        arts = []
        for art in raw:
            keep = [p for p in art["paragraphs"] if (p["context"] in touched) == trained]
            if len(raw) == 1:  # one article of many posts
                arts += [{"title": f"post {i + 1}", "paragraphs": [p]} for i, p in enumerate(keep)]
            elif keep:
                arts.append({"title": art["title"], "paragraphs": keep})
        rng.shuffle(arts)
        for g in range(groups):
            out.append((f"{name.split('_v1')[0]} {g + 1}", {"data": arts[g::groups][:articles]}))
    return out


def remove_answers(
    items: Sequence[QAItem], corpus_dir: Path, share: float, seed: int
) -> list[QAItem]:
    """Cut out of ``share`` of the written paragraphs the sentences holding one of their
    questions' answers, and return the items with every question whose answers the paragraph
    no longer holds made unanswerable (kind ``answer-removed``, its answers withheld).

    Such a question meets its own paragraph without its answer: the sentences around it name
    the same people and things, as questions written to look answerable do. A paragraph that
    would be left without a sentence is not cut."""
    rng = random.Random(seed)
    by_file: dict[str, list[QAItem]] = {}
    for it in items:
        if it.answerable:
            by_file.setdefault(it.sources[0], []).append(it)
    files = sorted(by_file)
    rng.shuffle(files)
    shortened: dict[str, str] = {}  # file -> its text with the sentences cut out
    for name in files[: round(share * len(files))]:
        path = corpus_dir / name
        text = path.read_text(encoding="utf-8")
        target = rng.choice(by_file[name])
        spans = paragraph_sentences(text)
        cut = [(s, e) for s, e in spans if contains_answer(text[s:e], target.answers)]
        if not cut or len(cut) == len(spans):
            continue
        kept = [text[s:e] for s, e in spans if (s, e) not in cut]
        shortened[name] = " ".join(kept)
        path.write_text(shortened[name], encoding="utf-8")
    out = []
    for it in items:
        left = shortened.get(it.sources[0]) if it.answerable else None
        if left is not None and not contains_answer(left, it.answers):
            it = replace(it, answers=(), sources=(), type="answer-removed", withheld=it.answers)
        out.append(it)
    return out


def swap_names(items: Sequence[QAItem], corpus_dir: Path, share: float, seed: int) -> list[QAItem]:
    """The items, plus for ``share`` of the answerable ones the question with one of its names
    (or numbers) that its paragraph mentions swapped for one of the corpus that the paragraph
    never mentions (``rag.train.swapped``; kind ``name-swapped``, unanswerable): a question
    that reads as if its paragraph answered it, as SQuAD 2.0's entity swaps do."""
    rng = random.Random(seed)
    paras = {}
    for path in sorted(corpus_dir.iterdir()):
        text = path.read_text(encoding="utf-8")
        paras[path.name] = Paragraph(
            path.name, [text[a:b] for a, b in paragraph_sentences(text)], text
        )
    pool = NamePool(list(paras.values()), range(len(paras)))
    out = list(items)
    for it in items:
        if it.answerable and it.type != "answer-removed" and rng.random() < share:
            other = swapped(it.question, paras[it.sources[0]], pool, rng)
            if other is not None:
                out.append(
                    replace(
                        it,
                        id=f"{it.id}-swapped",
                        question=other,
                        answers=(),
                        sources=(),
                        type="name-swapped",
                        withheld=it.answers,
                    )
                )
    return out


def record(
    corpus: int,
    squad: dict[str, Any],
    questions: int,
    seed: int,
    say: Any,
) -> list[Asked]:
    from index.build import build_index
    from index.service import open_index
    from rag.embed import MiniLMEmbedder

    out: list[Asked] = []
    with tempfile.TemporaryDirectory(prefix="rag-fit-") as tmp:
        src = Path(tmp) / "squad.json"
        src.write_text(json.dumps(squad), encoding="utf-8")
        ss = load_squad(src, Path(tmp) / "corpus", LEFT_OUT_SHARE, seed)
        items = remove_answers(ss.items, ss.corpus_dir, REMOVED_SHARE, seed)
        items = swap_names(items, ss.corpus_dir, SWAPPED_SHARE, seed)
        settings = Settings().with_(
            corpus_dir=ss.corpus_dir, index_dir=Path(tmp) / "index", chroma_url=None
        )
        embedder = MiniLMEmbedder(settings.device, settings.batch_size)
        build_index(settings, embedder=embedder)
        idx = open_index(settings, embedder=embedder)
        random.Random(seed).shuffle(items)
        rec = Recorder()
        t = time.time()
        for n, item in enumerate(items[:questions]):
            rec.last = None
            idx.ask(item.question, reader=rec)
            if rec.last is None:
                continue
            ranked, rows, pairs, titles = rec.last
            gold = set(item.sources)
            labels = np.array(
                [
                    float(s.cand.source in gold and contains_answer(s.cand.text, item.answers))
                    for s in ranked
                ]
            )
            kind = item.type or "squad"
            out.append(
                Asked(item.question, corpus, item.answerable, rows, labels, pairs, {}, kind, titles)
            )
            if (n + 1) % 200 == 0:
                say(f"  {n + 1} questions asked ({time.time() - t:.0f} s)")
        say(f"  {ss.documents} paragraphs indexed, {len(out)} questions recorded")
    return out


def pipeline_groups(asked: Sequence[Asked], first: Logistic, k: int) -> list[dict[str, Any]]:
    """Per recorded question, the ``k`` candidates ``first`` would hand the cross-encoder, an
    answering one first when there is one: training groups as the reader meets questions in
    the pipeline, unanswerable ones included (``rag.train --pipeline-groups``)."""
    out = []
    for a in asked:
        top = read_set(first, a, k)
        if not top:
            continue
        lead = [i for i in top if a.labels[i] > 0][:1]
        order = lead + [i for i in top if i not in lead]
        out.append(
            {
                "q": a.question,
                "kind": a.kind,
                "pairs": [a.pairs[i] for i in order],
                "titles": [a.titles[i] for i in order] if a.titles else [],
                "labels": [float(a.labels[i]) for i in order],
            }
        )
    return out


def fit_logistic(x: np.ndarray, y: np.ndarray, names: tuple[str, ...], c: float) -> Logistic:
    from sklearn.linear_model import LogisticRegression

    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    lr = LogisticRegression(C=c, max_iter=5000).fit((x - mean) / scale, y)
    return Logistic(
        names,
        tuple(float(v) for v in mean),
        tuple(float(v) for v in scale),
        tuple(float(v) for v in lr.coef_[0]),
        float(lr.intercept_[0]),
    )


def read_set(first: Logistic, a: Asked, k: int) -> list[int]:
    p = first.probabilities(a.rows)
    return sorted(range(len(p)), key=lambda i: (-p[i], i))[:k]


def read_matrix(asked: Sequence[Asked], first: Logistic, k: int) -> tuple[np.ndarray, np.ndarray]:
    xs, ys = [], []
    for a in asked:
        top = read_set(first, a, k)
        if top:
            xs.append(read_rows(a.rows[top], *_seen(a, top)))
            ys.append(a.labels[top])
    return np.vstack(xs), np.concatenate(ys)


def _seen(a: Asked, top: Sequence[int]) -> tuple[np.ndarray, np.ndarray]:
    """The cross-encoder's logits and span scores of candidates ``top``."""
    return np.array([a.ce[i][0] for i in top]), np.array([a.ce[i][1] for i in top])


def add_logits(asked: Sequence[Asked], firsts: Sequence[Logistic], k: int, say: Any) -> None:
    """The cross-encoder's logit and span score for every candidate any of ``firsts`` would
    have it read."""
    from rag.crossencoder import CrossEncoder

    ce = CrossEncoder()
    t = time.time()
    for n, a in enumerate(asked):
        need = sorted({i for f in firsts for i in read_set(f, a, k)} - set(a.ce))
        if need:
            titles = [a.titles[i] for i in need] if a.titles else None
            seen = ce.read(a.question, [a.pairs[i] for i in need], titles)
            both = ((float(v), float(w)) for v, w in zip(seen.logits, seen.spans, strict=True))
            a.ce.update(zip(need, both, strict=True))
        if (n + 1) % 1000 == 0:
            say(f"  cross-encoder: {n + 1} questions ({time.time() - t:.0f} s)")


def oof_read(first: Logistic, read: Logistic, a: Asked, k: int) -> list[tuple[float, bool, int]]:
    """The candidates read, best first: the read model's probability, whether it answers,
    and the words quoting it shows (``shown_words``)."""
    top = read_set(first, a, k)
    if not top:
        return []
    p = read.probabilities(read_rows(a.rows[top], *_seen(a, top)))
    out = [(float(p[j]), bool(a.labels[i]), shown_words(*a.pairs[i])) for j, i in enumerate(top)]
    return sorted(out, key=lambda t: -t[0])


def shown_words(sentence: str, before: str | None) -> int:
    """The words an answer shows for quoting ``sentence``: with the sentence before, when it
    cannot be read alone and comes along as context (``rag.answer.build_answer``)."""
    words = len(sentence.split())
    return words + len(before.split()) if before and needs_previous(sentence) else words


def quote(
    reads: list[tuple[float, bool, int]], also: float, most: int, threshold: float
) -> list[int]:
    """Which of the reads an answer quotes: the best, then those at ``also`` or above."""
    chosen = [0]
    for j in range(1, len(reads)):
        if len(chosen) < most and reads[j][0] >= max(also, threshold):
            chosen.append(j)
    return chosen


def choose_quoting(
    oof: Sequence[list[tuple[float, bool, int]]],
    answerable: np.ndarray,
    corpus: np.ndarray,
    threshold: float,
) -> tuple[float, int, dict[str, float]]:
    """How many sentences an answer quotes: the rule (a further sentence at probability
    ``also`` or above, at most ``most`` in all) under which answered, answerable questions
    most often have the answer among the quotes, while the median answer stays within
    ``WORD_BUDGET`` words on every corpus asked. Each corpus, not each source, since a user's
    documents are one corpus: pooled over a source's corpora, the median hid one at 41 words.
    And with a margin for a corpus of the same kind that was not drawn: the budget must hold
    for the upper end of a one-sided 95% bootstrap interval of each corpus's median
    (``median_upper``). A rule exactly at the budget on the corpora drawn (medians of 40 and
    38 words on the two Wikipedia ones) left the next Wikipedia corpus over it."""
    rng = np.random.default_rng(0)
    best: tuple[float, float, int] | None = None
    for most in (1, 2, 3):
        for also in ALSO_GRID:
            hits: list[bool] = []
            words: dict[int, list[int]] = {int(c): [] for c in set(corpus.tolist())}
            for reads, ans, cor in zip(oof, answerable, corpus, strict=True):
                if not reads or reads[0][0] < threshold:
                    continue
                chosen = quote(reads, also, most, threshold)
                words[int(cor)].append(sum(reads[j][2] for j in chosen))
                if ans:
                    hits.append(any(reads[j][1] for j in chosen))
            if any(median_upper(w, rng) > WORD_BUDGET for w in words.values() if w):
                continue
            hit = float(np.mean(hits))
            if best is None or hit > best[0] + 1e-9:
                best = (hit, also, most)
    assert best is not None  # one sentence is always within the budget on these corpora
    return best[1], best[2], {"answer_among_quotes": round(best[0], 4)}


def median_upper(words: Sequence[int], rng: np.random.Generator, draws: int = 1000) -> float:
    """The upper end of a one-sided 95% bootstrap interval of the median of ``words``."""
    w = np.asarray(words)
    medians = np.median(rng.choice(w, size=(draws, len(w))), axis=1)
    return float(np.quantile(medians, 0.95))


@dataclass
class OutOfFold:
    """Every question judged by models fitted on the other fold's corpora, never its own."""

    asked: list[Asked]  # in the order of the arrays below
    reads: list[list[tuple[float, bool, int]]]  # oof_read of each
    p_best: np.ndarray  # the best candidate's probability (0 where none was read)
    right: np.ndarray  # the best candidate answers
    answerable: np.ndarray
    found: np.ndarray  # the answering sentence was among the candidates
    kind: np.ndarray
    corpus: np.ndarray
    rules_right: np.ndarray  # the rule scorer's first candidate answers


def out_of_fold(
    asked: list[Asked], k: int, c: float, say: Any
) -> tuple[Logistic, Logistic, OutOfFold]:
    """The models fitted on both folds, and every question judged out of fold."""

    def stack(sub: Sequence[Asked]) -> tuple[np.ndarray, np.ndarray]:
        return np.vstack([a.rows for a in sub]), np.concatenate([a.labels for a in sub])

    folds = [[a for a in asked if a.corpus % 2 == f] for f in (0, 1)]
    first_all = fit_logistic(*stack(asked), FIRST_FEATURES, c)
    first_oof = [fit_logistic(*stack(folds[1 - f]), FIRST_FEATURES, c) for f in (0, 1)]
    add_logits(asked, [first_all, *first_oof], k, say)
    read_all = fit_logistic(*read_matrix(asked, first_all, k), READ_FEATURES, c)
    read_oof = [
        fit_logistic(*read_matrix(folds[1 - f], first_oof[f], k), READ_FEATURES, c) for f in (0, 1)
    ]
    order = [(f, a) for f in (0, 1) for a in folds[f]]
    reads = [oof_read(first_oof[f], read_oof[f], a, k) for f, a in order]
    judged = [a for _, a in order]
    oof = OutOfFold(
        judged,
        reads,
        np.array([r[0][0] if r else 0.0 for r in reads]),
        np.array([bool(r) and r[0][1] for r in reads]),
        np.array([a.answerable for a in judged]),
        np.array([bool(a.labels.sum()) for a in judged]),
        np.array([a.kind for a in judged]),
        np.array([a.corpus for a in judged]),
        # candidates come in the rule scorer's order: its first is the rules' pick
        np.array([bool(len(a.labels)) and bool(a.labels[0]) for a in judged]),
    )
    return first_all, read_all, oof


def fit(asked: list[Asked], k: int, c: float, say: Any) -> tuple[ReaderModels, dict[str, Any]]:
    first_all, read_all, oof = out_of_fold(asked, k, c, say)
    p_best, ans, fnd, kind = oof.p_best, oof.answerable, oof.found, oof.kind
    threshold = choose_threshold(p_best, fnd)
    also, most, quoting = choose_quoting(oof.reads, ans, oof.corpus, threshold)
    report = {
        "questions": len(asked),
        "answerable": int(ans.sum()),
        "answer_among_candidates": round(float(np.mean(fnd[ans])), 4),
        "best_sentence_right": round(float(np.mean(oof.right[ans])), 4),
        "rules_first_right": round(float(np.mean(oof.rules_right[ans])), 4),
        "false_abstention": round(float(np.mean(p_best[ans] < threshold)), 4),
        "false_abstention_answer_among_candidates": round(
            float(np.mean(p_best[fnd] < threshold)), 4
        ),
        "abstention": round(float(np.mean(p_best[~ans] < threshold)), 4),
        **{
            f"abstention_{k.replace('-', '_')}": round(
                float(np.mean(p_best[kind == k] < threshold)), 4
            )
            for k in ("left-out", "answer-removed", "name-swapped")
            if (kind == k).any()
        },
        "threshold": round(threshold, 4),
        "also": also,
        "max_sentences": most,
        **quoting,
    }
    return ReaderModels(first_all, read_all, k, round(threshold, 4), also, most), report


def word_overlap(a: Asked) -> float | None:
    """The share of the question's content words its (first) answering candidate uses; None
    when no candidate answers."""
    from rag.lexical import tokens

    if not a.labels.sum():
        return None
    words = set(tokens(a.question))
    said = set(tokens(a.pairs[int(np.argmax(a.labels))][0]))
    return len(words & said) / len(words) if words else 0.0


def by_overlap(asked: list[Asked], k: int, c: float, say: Any) -> None:
    """``--by-overlap``: the answerable questions whose answering sentence was among the
    candidates, out of fold, in four parts (split at the quartiles) by how many of their words
    the answering sentence repeats (``word_overlap``). Per part: the answering sentence among
    the ``k`` the cross-encoder reads, the best sentence right, and the share refused at the
    threshold ``fit`` chooses. A question put in other words than its documents' (as one
    asked before reading them is) falls in the first rows."""
    _, _, oof = out_of_fold(asked, k, c, say)
    threshold = choose_threshold(oof.p_best, oof.found)
    keep = oof.found & oof.answerable
    judged = [a for a, kept in zip(oof.asked, keep, strict=True) if kept]
    overlap = np.array([word_overlap(a) or 0.0 for a in judged])
    # whether the answering sentence was among those read: oof_read lists the candidates read
    read = np.array([any(t[1] for t in r) for r, kept in zip(oof.reads, keep, strict=True) if kept])
    p, right = oof.p_best[keep], oof.right[keep]
    cuts = np.quantile(overlap, [0.25, 0.5, 0.75])
    part = np.digitize(overlap, cuts, right=True)
    say(
        f"threshold {threshold:.4f}; {len(judged)} answerable questions, answer among the candidates"
    )
    say(
        "| words of the question the answering sentence repeats | questions | answer among the "
        f"{k} read | best sentence right | refused |"
    )
    say("|---|---:|---:|---:|---:|")
    for i in range(4):
        s = part == i
        lo, hi = overlap[s].min(), overlap[s].max()
        say(
            f"| {lo:.2f}-{hi:.2f} | {int(s.sum())} | {read[s].mean():.3f} | "
            f"{right[s].mean():.3f} | {np.mean(p[s] < threshold):.3f} |"
        )


def by_source(
    asked: list[Asked], k: int, c: float, say: Any, files: Sequence[str] = FILES, per: int = 2
) -> None:
    """``--by-source``: how the fit carries to a kind of text it was not fitted on. Each
    source's corpora are judged by models, and a threshold, fitted on the other two
    sources' (as a user's documents are judged by models fitted on SQuAD-shifts). Per source
    left out: best sentence right; the share of answerable questions (answer among the
    candidates) refused at the carried threshold, which was chosen to refuse 3% where it was
    fitted; abstention there, by kind; and abstention at the threshold that would refuse 3%
    of the left-out source's own answerable questions, which shows how much of a shortfall
    is the threshold's carrying rather than the reading. Corpus ``i`` is of ``files[i //
    per]``, as ``corpora`` makes them."""
    kinds = ("left-out", "answer-removed", "name-swapped")
    say(
        "| source left out | best sentence right | answerable refused | abstention | "
        + " | ".join(kinds)
        + " | abstention, its own 3% threshold |"
    )
    say("|---" + "|---:" * (4 + len(kinds)) + "|")
    for s, name in enumerate(files):
        train = [a for a in asked if a.corpus // per != s]
        test = [a for a in asked if a.corpus // per == s]
        models, _ = fit(train, k, c, lambda m: None)
        add_logits(test, [models.first], k, lambda m: None)
        reads = [oof_read(models.first, models.read, a, k) for a in test]
        p = np.array([r[0][0] if r else 0.0 for r in reads])
        right = np.array([bool(r) and r[0][1] for r in reads])
        ans = np.array([a.answerable for a in test])
        found = np.array([bool(a.labels.sum()) for a in test])
        kind = np.array([a.kind for a in test])
        t = models.threshold
        by_kind = [
            f"{np.mean(p[kind == kd] < t):.3f}" if (kind == kd).any() else "-" for kd in kinds
        ]
        cells = [
            name.split("_v1")[0],
            f"{right[ans].mean():.3f}",
            f"{np.mean(p[found] < t):.3f}",
            f"{np.mean(p[~ans] < t):.3f}",
            *by_kind,
            f"{np.mean(p[~ans] < choose_threshold(p, found)):.3f}",
        ]
        say("| " + " | ".join(cells) + " |")


def _keep(cache: Path, asked: Sequence[Asked], weights: str) -> None:
    body = {"weights_sha256": weights, "asked": [_to_json(a) for a in asked]}
    cache.write_text(json.dumps(body), encoding="utf-8")


def _to_json(a: Asked) -> dict[str, Any]:
    return {
        "question": a.question,
        "corpus": a.corpus,
        "answerable": a.answerable,
        "rows": a.rows.tolist(),
        "labels": a.labels.tolist(),
        "pairs": a.pairs,
        "ce": {str(i): list(v) for i, v in a.ce.items()},
        "kind": a.kind,
        "titles": a.titles,
    }


def _from_json(d: dict[str, Any]) -> Asked:
    rows = np.array(d["rows"], dtype=np.float64).reshape(-1, len(FIRST_FEATURES))
    pairs = [(s, b) for s, b in d["pairs"]]
    # a cache from before the span head kept the logit alone
    ce = {
        int(i): (float(v[0]), float(v[1])) if isinstance(v, list) else (float(v), 0.0)
        for i, v in d.get("ce", {}).items()
    }
    kind = d.get("kind", "squad" if d["answerable"] else "left-out")
    titles = [str(t) for t in d.get("titles", [])]  # a cache from before titles has none
    return Asked(
        d["question"],
        d["corpus"],
        d["answerable"],
        rows,
        np.array(d["labels"]),
        pairs,
        ce,
        kind,
        titles,
    )


def choose_threshold(p_best: np.ndarray, found: np.ndarray) -> float:
    """The highest probability at which at most ``FALSE_ABSTENTION_BUDGET`` of the questions
    whose answering sentence was among the candidates are refused. A question whose answer
    retrieval did not bring is not counted: refusing it is what a careful reader should do,
    since every sentence it could quote is wrong."""
    return float(np.quantile(p_best[found], FALSE_ABSTENTION_BUDGET))


def log(msg: str) -> None:
    print(msg, flush=True)


def write_pipeline_groups(args: argparse.Namespace, out: Path) -> None:
    """``--pipeline-groups``: corpora of the trained paragraphs (their own shuffle and seeds,
    apart from the fitting's), every question asked, the groups written."""
    from collections import Counter

    from rag.features import load_models

    first = load_models().first
    asked: list[Asked] = []
    made = corpora(Path(args.data), args.seed + 101, args.groups, args.files, trained=True)
    for i, (name, squad) in enumerate(made):
        log(f"corpus {name} (trained paragraphs): {len(squad['data'])} articles")
        asked += record(i, squad, args.questions, args.seed + 500 + i, log)
    groups = pipeline_groups(asked, first, PIPELINE_TOP)
    out.write_text(json.dumps(groups), encoding="utf-8")
    kinds = Counter(g["kind"] for g in groups)
    led = sum(g["labels"][0] > 0 for g in groups)
    log(f"{len(groups)} groups written to {out} ({dict(kinds)}; {led} with an answering one)")


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m eval.fit", description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="folder with the SQuAD-shifts JSON files")
    ap.add_argument("--out", default=str(MODELS_FILE), help="where the fitted models go")
    ap.add_argument("--groups", type=int, default=2, help="corpora made of each file")
    ap.add_argument("--questions", type=int, default=800, help="questions asked per corpus")
    ap.add_argument("--files", nargs="+", default=list(FILES), choices=FILES, help="files used")
    ap.add_argument("--articles", type=int, help="at most this many articles a corpus")
    # 3: out of fold, reading a 4th changed best-sentence-right by 0.002 and abstention by
    # 0.001 (2026-12-02), and costs a quarter more reading time
    ap.add_argument("--read-top", type=int, default=3, help="candidates the cross-encoder reads")
    ap.add_argument("--c", type=float, default=1.0, help="inverse L2 strength of the fits")
    ap.add_argument(
        "--by-source",
        action="store_true",
        help="fit nothing: judge each source's corpora by models fitted on the other "
        "sources' (how the fit carries to a kind of text it has not seen)",
    )
    ap.add_argument(
        "--by-overlap",
        action="store_true",
        help="fit nothing: judge the answerable questions out of fold by how many of their "
        "words the answering sentence repeats",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--cache", help="JSON file keeping the recorded questions between runs")
    ap.add_argument(
        "--pipeline-groups",
        metavar="FILE",
        help="fit nothing: ask questions of the paragraphs the cross-encoder trained on and "
        f"write, per question, the {PIPELINE_TOP} candidates the first model hands it, as "
        "training groups for `rag.train --pipeline-groups`",
    )
    args = ap.parse_args(argv)
    data = Path(args.data)
    if not (data / FILES[0]).is_file():
        sys.exit(f"error: no SQuAD-shifts files in {data} (expected {', '.join(FILES)})")
    if args.pipeline_groups:
        write_pipeline_groups(args, Path(args.pipeline_groups))
        return
    t0 = time.time()
    cache = Path(args.cache) if args.cache else None
    weights = sha256(MODELS_FILE.parent / WEIGHTS)
    if cache and cache.is_file():
        kept = json.loads(cache.read_text(encoding="utf-8"))
        asked = [_from_json(d) for d in kept["asked"]]
        if kept["weights_sha256"] != weights:  # logits of another cross-encoder: read again
            for a in asked:
                a.ce.clear()
        if load_config().title_tokens and not any(a.titles for a in asked):
            sys.exit(
                f"error: {cache} was recorded without document titles, which this reader "
                "reads: record again (delete the file, or give another --cache)"
            )
        log(f"{len(asked)} recorded questions read from {cache}")
    else:
        asked = []
        for i, (name, squad) in enumerate(
            corpora(data, args.seed, args.groups, args.files, args.articles)
        ):
            log(f"corpus {name}: {len(squad['data'])} articles")
            asked += record(i, squad, args.questions, args.seed + i, log)
        if cache:
            _keep(cache, asked, weights)
    if args.by_overlap:
        by_overlap(asked, args.read_top, args.c, log)
        return
    if args.by_source:
        if len(args.files) < 2:
            sys.exit("error: --by-source needs at least two --files, one to leave out")
        by_source(asked, args.read_top, args.c, log, args.files, args.groups)
        return
    models, report = fit(asked, args.read_top, args.c, log)
    if cache:  # with the cross-encoder's logits now, so a refit need not read again
        _keep(cache, asked, weights)
    report["seconds"] = round(time.time() - t0)
    training = {
        "data_sha256": {name: sha256(data / name) for name in FILES},
        "seed": args.seed,
        "command": "python -m eval.fit " + " ".join(sys.argv[1:] if argv is None else argv),
        "out_of_fold": report,
    }
    out = replace(models, training=training)
    out.save(Path(args.out))
    log(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
