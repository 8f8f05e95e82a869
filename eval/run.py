"""Run a question set through the answerer, its ablations and a whole-passage baseline; score it.

>>> from eval.dataset import load_qa, DEFAULT_QA
>>> run = run_eval(open_index(settings), load_qa(DEFAULT_QA), settings.corpus_dir)  # doctest: +SKIP
>>> run.summaries["hybrid"]["answer_hit"]                                           # doctest: +SKIP
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from pathlib import Path
from typing import Any, Literal

from eval.dataset import DEFAULT_SEEDS, DEFAULT_UNANSWERABLE_SHARE, QAItem, load_qa, load_squad
from eval.metrics import (
    RECALL_KS,
    GroundingChecker,
    abstention_scores,
    answer_hit,
    best_em_f1,
    citation_precision_recall,
    contains_answer,
    dedupe_sources,
    disagreement_scores,
    percentile,
    retrieval_scores,
    word_count,
)
from index.service import Index, clean_question
from rag.errors import InputError, RagError
from rag.retrieve import Mode
from rag.settings import Settings

Method = Literal["hybrid", "learned", "dense", "lexical", "top-passage"]
METHODS: tuple[Method, ...] = ("hybrid", "learned", "dense", "lexical", "top-passage")
METHOD_HELP = {
    "hybrid": "dense + BM25 with the rule reader (`--reader rules`)",
    "learned": "the full answerer, as `rag ask` runs it: dense + BM25, the learned reader",
    "dense": "the rule reader on dense (embedding) retrieval only",
    "lexical": "the rule reader on BM25 retrieval only",
    "top-passage": "baseline: the whole top passage of hybrid retrieval as the answer; "
    "never abstains",
}
# the reader each answering method uses
READER = {"hybrid": "rules", "learned": "learned", "dense": "rules", "lexical": "rules"}
# the retrieval mode each method's ranking comes from
RETRIEVAL_MODE: dict[str, Mode] = {
    "hybrid": "hybrid",
    "learned": "hybrid",
    "dense": "dense",
    "lexical": "lexical",
    "top-passage": "hybrid",
}
RANK_CHUNKS = 30  # chunks fetched for the ranking metrics; deduped to at least 10 files in practice

Progress = Callable[[int, int], None]


@dataclass
class Outcome:
    """What one method returned for one question, and which checks it passed."""

    answer: str
    abstained: bool
    citations: list[dict[str, Any]]
    latency_ms: float
    ranking: list[str]  # sources, best first, deduped
    checks: dict[str, Any] = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    error: str | None = None
    sentences: tuple[str, ...] = ()  # the answerer's ranked sentences, best first
    confidence: float | None = None
    abstain_reason: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "answer": self.answer,
            "abstained": self.abstained,
            "confidence": None if self.confidence is None else round(self.confidence, 4),
            "abstain_reason": self.abstain_reason,
            "citations": self.citations,
            "latency_ms": round(self.latency_ms, 1),
            "ranking": self.ranking[:10],
            "checks": self.checks,
            "failures": self.failures,
            **({"error": self.error} if self.error else {}),
        }


@dataclass
class Record:
    item: QAItem
    outcomes: dict[str, Outcome]

    def to_dict(self) -> dict[str, Any]:
        it = self.item
        return {
            "id": it.id,
            "question": it.question,
            "type": it.type,
            "expected": {
                "answers": list(it.answers),
                "sources": list(it.sources),
                **({"withheld_answers": list(it.withheld)} if it.withheld else {}),
                **({"disagreement": it.disagreement} if it.disagreement is not None else {}),
            },
            "methods": {m: o.to_dict() for m, o in self.outcomes.items()},
        }


@dataclass
class EvalRun:
    """A whole run: per-question records, per-method summaries, and how long it took."""

    name: str
    methods: tuple[str, ...]
    records: list[Record]
    summaries: dict[str, dict[str, Any]]
    seconds: float
    index_seconds: float | None = None
    notes: list[str] = field(default_factory=list)
    command: str = ""
    # over several runs (SQuAD seeds): each method's summary per run; ``summaries`` then holds
    # their means
    per_run: list[dict[str, dict[str, Any]]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "command": self.command,
            "methods": {m: METHOD_HELP.get(m, m) for m in self.methods},
            "summary": self.summaries,
            "seconds": round(self.seconds, 1),
            "index_seconds": None if self.index_seconds is None else round(self.index_seconds, 1),
            "notes": self.notes,
            **({"per_seed": self.per_run} if self.per_run else {}),
            "questions": [r.to_dict() for r in self.records],
        }

    def failed(self, method: str) -> list[Record]:
        return [r for r in self.records if r.outcomes[method].failures]


# -- one question, one method ---------------------------------------------------------------
def _citation_dicts(
    citations: Sequence[Any], checker: GroundingChecker
) -> tuple[list[dict[str, Any]], bool]:
    out: list[dict[str, Any]] = []
    ok = True
    for c in citations:
        g = checker.check(c.source, c.start, c.end, c.quote)
        ok = ok and g.ok
        d = c.to_dict()
        d.pop("passage", None)  # the quote and offsets are what is checked; passages bloat the file
        d["grounded"] = g.ok
        if not g.ok:
            d["grounding_error"] = g.reason
        out.append(d)
    return out, ok


def _score(item: QAItem, out: Outcome, seen_text: Callable[[], list[tuple[str, str]]]) -> None:
    """Fill ``out.checks`` and ``out.failures``; ``seen_text`` gives the passages the answerer saw
    (only asked for when an answer missed, to tell a retrieval miss from a wrong sentence)."""
    ch = out.checks
    ch["grounded"] = all(c["grounded"] for c in out.citations)
    if not ch["grounded"]:
        out.failures.append("ungrounded citation")
    if not item.answerable:
        ch["abstention_ok"] = out.abstained
        if not out.abstained:
            out.failures.append("missed abstention")
        return
    ch["abstention_ok"] = not out.abstained
    quotes = [] if out.abstained else [c["quote"] for c in out.citations]
    hit = (not out.abstained) and answer_hit(out.answer, item.answers)
    em, f1, best = best_em_f1(quotes, item.answers)
    # what a reader sees first: does the first quoted sentence itself hold an accepted answer?
    first = bool(quotes) and contains_answer(quotes[0], item.answers)
    ch.update(answer_hit=hit, first_quote_hit=first, em=em, f1=round(f1, 4), best_quote=best)
    if not out.abstained:
        ch["words"] = word_count(out.answer)
        p, r = citation_precision_recall([c["source"] for c in out.citations], item.sources)
        ch["citation_precision"], ch["citation_recall"] = p, r
        if out.sentences:
            ch["right_sentence_rank"] = right_sentence_rank(out.sentences, item.answers)
    if hit:
        return
    # was an accepted answer in the passages the answerer saw (from a gold file, when known)?
    passages = seen_text()
    gold = set(item.sources)
    in_seen = any(
        contains_answer(text, item.answers) for src, text in passages if not gold or src in gold
    )
    ch["answer_in_passages"] = in_seen
    if out.abstained:
        out.failures.append("false abstention" + ("" if in_seen else " (retrieval miss)"))
    else:
        out.failures.append("wrong sentence" if in_seen else "retrieval miss")


def right_sentence_rank(sentences: Sequence[str], answers: Sequence[str]) -> int | None:
    """Where the first sentence holding an accepted answer stands in the answerer's ranking
    (1 = first), or None when none of the ranked sentences holds one."""
    return next((n for n, s in enumerate(sentences, 1) if contains_answer(s, answers)), None)


def _error_outcome(msg: str) -> Outcome:
    return Outcome("", True, [], 0.0, [], {"grounded": True}, ["error"], msg)


class _Asked:
    """One question's retrievals, each run once and only when needed."""

    def __init__(self, index: Index, q: str, qvec: Any) -> None:
        self.index, self.q, self.qvec = index, q, qvec
        self._top: dict[str, list[Any]] = {}
        self._ranked: dict[str, list[str]] = {}

    def passages(self, mode: Mode) -> list[Any]:
        """The top_k passages ``ask`` sees in this retrieval mode (same call, same inputs)."""
        if mode not in self._top:
            self._top[mode] = self.index.retrieve(self.q, mode=mode, qvec=self.qvec)
        return self._top[mode]

    def texts(self, mode: Mode, first: int | None = None) -> list[tuple[str, str]]:
        return [(c.source, c.text) for c, _ in self.passages(mode)[:first]]

    def ranking(self, mode: Mode) -> list[str]:
        """Files in rank order, from a deeper retrieval, for the ranking metrics."""
        if mode not in self._ranked:
            ranked = self.index.retrieve(self.q, k=RANK_CHUNKS, mode=mode, qvec=self.qvec)
            self._ranked[mode] = dedupe_sources(c.source for c, _ in ranked)
        return self._ranked[mode]


def run_eval(
    index: Index,
    items: Sequence[QAItem],
    corpus_dir: Path,
    methods: Sequence[str] = METHODS,
    progress: Progress | None = None,
    name: str = "",
) -> EvalRun:
    """Ask every question with every method, through ``Index.ask`` as ``rag ask`` does, and score.

    Retrieval metrics come from ``Index.retrieve`` rankings (chunks deduped to files).
    """
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise InputError(
            f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}"
        )
    checker = GroundingChecker(corpus_dir, index.settings.max_file_bytes)
    limit = index.settings.max_question_chars
    for reader in {READER[m] for m in methods if m in READER}:
        index.reader(reader).warm_up()  # model loading is not a question's latency
    t_start = time.perf_counter()
    records: list[Record] = []
    for n, item in enumerate(items):
        if progress:
            progress(n, len(items))
        try:
            q = clean_question(item.question, limit)
        except InputError as e:
            records.append(Record(item, {m: _error_outcome(str(e)) for m in methods}))
            continue
        t = time.perf_counter()
        asked = _Asked(index, q, index.embedder.embed([q])[0])
        embed_ms = (time.perf_counter() - t) * 1000
        outcomes: dict[str, Outcome] = {}
        for m in methods:
            mode = RETRIEVAL_MODE[m]
            try:
                if m == "top-passage":
                    t = time.perf_counter()
                    passages = asked.passages(mode)
                    latency = embed_ms + (time.perf_counter() - t) * 1000
                    out = _top_passage(passages, latency, checker)
                    seen = partial(asked.texts, mode, 1)
                else:
                    t = time.perf_counter()
                    ans = index.ask(item.question, mode=mode, reader=READER[m], trace=True)
                    latency = (time.perf_counter() - t) * 1000
                    cits, _ = _citation_dicts(ans.citations, checker)
                    out = Outcome(ans.answer, ans.abstained, cits, latency, [])
                    out.confidence, out.abstain_reason = ans.confidence, ans.abstain_reason
                    if ans.trace is not None:
                        out.sentences = tuple(r.text for r in ans.trace.ranked)
                    out.checks["sources_differ"] = ans.disagreement is not None
                    seen = partial(asked.texts, mode, None)
                out.ranking = asked.ranking(mode) if item.sources else []
            except RagError as e:
                outcomes[m] = _error_outcome(str(e))
                continue
            _score(item, out, seen)
            outcomes[m] = out
        records.append(Record(item, outcomes))
    if progress:
        progress(len(items), len(items))
    seconds = time.perf_counter() - t_start
    summaries = {m: summarize(records, m) for m in methods}
    run = EvalRun(name, tuple(methods), records, summaries, seconds)
    if any(READER.get(m) == "learned" for m in methods) and (fit := training_fit()):
        run.notes.append(fit)
    return run


def training_fit() -> str | None:
    """How the learned reader did out of fold on its training data (SQuAD-shifts asked through
    the pipeline, never the sets measured here), as one line for the report."""
    from rag.features import load_models

    try:
        h = load_models().training.get("out_of_fold") or {}
    except RagError:
        return None
    if not h:
        return None
    return (
        f"learned reader, out of fold on its training data (SQuAD-shifts, {h['questions']} "
        f"questions asked through the pipeline, not a measuring set): best sentence right "
        f"{h['best_sentence_right']:.3f} (the rules' first pick {h['rules_first_right']:.3f}), "
        f"abstention when the article is left out {h['abstention_left_out']:.3f}"
        + "".join(
            f", {when} {h[key]:.3f}"
            for key, when in (
                ("abstention_answer_removed", "when the answering sentences are cut out"),
                ("abstention_name_swapped", "when a name is swapped for one the paragraph lacks"),
            )
            if key in h
        )
        + f", false abstention {h['false_abstention']:.3f}, threshold {h['threshold']:.3f}"
    )


def _top_passage(passages: list[Any], latency: float, checker: GroundingChecker) -> Outcome:
    """The tutorial pipeline's answer: the first retrieved chunk, whole, cited as one quote."""
    if not passages:
        return Outcome("", False, [], latency, [])
    chunk, score = passages[0]
    cit = {
        "n": 1,
        "source": chunk.source,
        "title": chunk.title,
        "date": chunk.date,
        "start": chunk.start,
        "end": chunk.end,
        "quote": chunk.text,
        "score": round(float(score), 4),
    }
    g = checker.check(chunk.source, chunk.start, chunk.end, chunk.text)
    cit["grounded"] = g.ok
    if not g.ok:
        cit["grounding_error"] = g.reason
    return Outcome(f"{chunk.text} [1]", False, [cit], latency, [])


# -- summaries ----------------------------------------------------------------------------
def _mean(values: Sequence[float | None]) -> float | None:
    vals = [float(v) for v in values if v is not None]
    return sum(vals) / len(vals) if vals else None


def summarize(records: Sequence[Record], method: str) -> dict[str, Any]:
    """Every metric of one method over the run, as a flat dict (None where undefined)."""
    outs = [(r.item, r.outcomes[method]) for r in records]
    answerable = [(it, o) for it, o in outs if it.answerable]
    answered = [(it, o) for it, o in answerable if not o.abstained]
    means, per_q = retrieval_scores(
        {it.id: o.ranking for it, o in answerable},
        {it.id: list(it.sources) for it, o in answerable},
    )
    for it, o in answerable:
        if it.id in per_q:
            o.checks["retrieval"] = {k: round(v, 4) for k, v in per_q[it.id].items()}
    words = [o.checks["words"] for it, o in outs if "words" in o.checks]
    cits = [c for _, o in outs for c in o.citations]
    lat = [o.latency_ms for _, o in outs if o.error is None]
    s: dict[str, Any] = {
        "questions": len(outs),
        "answerable": len(answerable),
        "unanswerable": len(outs) - len(answerable),
        **(means if answerable else {}),
        "answer_hit": _mean([float(o.checks.get("answer_hit", False)) for _, o in answerable]),
        "first_quote_hit": _mean(
            [float(o.checks.get("first_quote_hit", False)) for _, o in answerable]
        ),
        "em": _mean([o.checks.get("em", 0.0) for _, o in answerable]),
        "f1": _mean([o.checks.get("f1", 0.0) for _, o in answerable]),
        "words_median": statistics.median(words) if words else None,
        "words_mean": _mean(words),
        **_sentence_ranks(answered),
        "citation_precision": _mean([o.checks.get("citation_precision") for _, o in answered]),
        "citation_recall": _mean([o.checks.get("citation_recall") for _, o in answered]),
        "grounding": (sum(c["grounded"] for c in cits) / len(cits)) if cits else None,
        "citations": len(cits),
        "ungrounded": sum(not c["grounded"] for c in cits),
        **abstention_scores((it.answerable, o.abstained) for it, o in outs if o.error is None),
        **disagreement_scores(
            (it.disagreement, bool(o.checks.get("sources_differ")))
            for it, o in outs
            if it.disagreement is not None and o.error is None
        ),
        "latency_p50_ms": percentile(lat, 50),
        "latency_p95_ms": percentile(lat, 95),
        "errors": sum(o.error is not None for _, o in outs),
        "failures": dict(Counter(f for _, o in outs for f in o.failures)),
    }
    by_type: dict[str, list[float]] = {}
    for it, o in outs:
        ok = o.checks.get("answer_hit", False) if it.answerable else o.abstained
        by_type.setdefault(it.type or "-", []).append(float(ok))
    s["by_type"] = {
        t: {"n": len(v), "correct": sum(v) / len(v)} for t, v in sorted(by_type.items())
    }
    return s


def _sentence_ranks(answered: Sequence[tuple[QAItem, Outcome]]) -> dict[str, float | None]:
    """How often the answerer's first-ranked sentence, or one of its first three, holds an
    accepted answer, over the answerable questions it answered (None for the baseline, which
    ranks no sentences)."""
    ranks = [o.checks.get("right_sentence_rank") for _, o in answered if o.sentences]
    if not ranks:
        return {"right_sentence_first": None, "right_sentence_top3": None}
    return {
        "right_sentence_first": sum(r == 1 for r in ranks) / len(ranks),
        "right_sentence_top3": sum(r is not None and r <= 3 for r in ranks) / len(ranks),
    }


# -- whole runs: the bundled set on the configured index, or a SQuAD file in a temp folder --------
@contextmanager
def rich_progress(label: str) -> Iterator[Progress]:
    """A progress bar on stderr, as a ``Progress`` callback."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
    ) as bar:
        task = bar.add_task(label, total=None)

        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _embedder(settings: Settings) -> Any:
    from rag.embed import MiniLMEmbedder

    return MiniLMEmbedder(settings.device, settings.batch_size)


def evaluate_qa(
    settings: Settings,
    qa_file: Path,
    methods: Sequence[str] = METHODS,
    limit: int | None = None,
    progress: Progress | None = None,
    say: Callable[[str], None] = lambda s: print(s, file=sys.stderr),
) -> EvalRun:
    """The set in ``qa_file`` against the configured index (built from the corpus if missing)."""
    from index.build import build_index
    from index.service import open_index
    from rag.errors import IndexMissingError

    items = load_qa(qa_file)[:limit]
    embedder = _embedder(settings)
    index_seconds = None
    try:
        idx = open_index(settings, embedder=embedder)
    except IndexMissingError:
        say(f"no index at {settings.index_dir}: indexing {settings.corpus_dir} first")
        t = time.perf_counter()
        report = build_index(settings, embedder=embedder)
        index_seconds = time.perf_counter() - t
        say(report.summary())
        idx = open_index(settings, embedder=embedder)
    run = run_eval(idx, items, settings.corpus_dir, methods, progress, name=Path(qa_file).name)
    run.index_seconds = index_seconds
    return run


def evaluate_squad(
    settings: Settings,
    squad_file: Path,
    unanswerable_share: float = DEFAULT_UNANSWERABLE_SHARE,
    seeds: Sequence[int] = DEFAULT_SEEDS,
    methods: Sequence[str] = METHODS,
    limit: int | None = None,
    progress: Progress | None = None,
    say: Callable[[str], None] = lambda s: print(s, file=sys.stderr),
) -> EvalRun:
    """A SQuAD v1.1 file, once per seed: each seed leaves out its own articles, so a figure
    cannot owe itself to one lucky split. The result's summaries are the means over seeds;
    ``per_run`` keeps each seed's."""
    runs = []
    for seed in seeds:
        say(f"seed {seed}:")
        runs.append(
            _squad_once(
                settings, squad_file, unanswerable_share, seed, methods, limit, progress, say
            )
        )
    return runs[0] if len(runs) == 1 else combine(runs, [f"seed {s}" for s in seeds])


def combine(runs: Sequence[EvalRun], labels: Sequence[str]) -> EvalRun:
    """Several runs of the same methods as one: records tagged with their run, summaries the
    mean of the runs' numeric figures (failures and types counted over all records)."""
    records = [
        Record(replace(r.item, id=f"{label}:{r.item.id}"), r.outcomes)
        for run, label in zip(runs, labels, strict=True)
        for r in run.records
    ]
    methods = runs[0].methods
    summaries = {}
    for m in methods:
        pooled = summarize(records, m)
        per = [run.summaries[m] for run in runs]
        for key, value in pooled.items():
            vals = [p.get(key) for p in per]
            # shares and times: the mean of the runs; counts stay the totals over all records
            if isinstance(value, float) and all(isinstance(v, int | float) for v in vals):
                pooled[key] = statistics.fmean(float(v) for v in vals)  # type: ignore[arg-type]
        summaries[m] = pooled
    return EvalRun(
        runs[0].name,
        methods,
        records,
        summaries,
        sum(r.seconds for r in runs),
        sum(r.index_seconds or 0.0 for r in runs),
        _notes(runs, labels),
        per_run=[run.summaries for run in runs],
    )


def _notes(runs: Sequence[EvalRun], labels: Sequence[str]) -> list[str]:
    """Notes every run shares once; the others under their run's label."""
    shared = [n for n in runs[0].notes if all(n in r.notes for r in runs)]
    own = [
        f"{label}: {n}"
        for run, label in zip(runs, labels, strict=True)
        for n in run.notes
        if n not in shared
    ]
    return shared + own


def _squad_once(
    settings: Settings,
    squad_file: Path,
    unanswerable_share: float,
    seed: int,
    methods: Sequence[str],
    limit: int | None,
    progress: Progress | None,
    say: Callable[[str], None],
) -> EvalRun:
    """One seed: the file's paragraphs become a corpus and a fresh index in a temp folder."""
    from index.build import build_index
    from index.service import open_index

    with tempfile.TemporaryDirectory(prefix="rag-eval-") as tmp:
        squad = load_squad(Path(squad_file), Path(tmp) / "corpus", unanswerable_share, seed)
        # a private, local index: never a shared Chroma server
        local = settings.with_(
            corpus_dir=squad.corpus_dir, index_dir=Path(tmp) / "index", chroma_url=None
        )
        embedder = _embedder(local)
        kept = squad.articles - len(squad.left_out)
        say(
            f"{Path(squad_file).name}: {squad.documents} paragraphs of {kept} articles indexed; "
            f"{len(squad.left_out)} articles left out "
            f"(share {unanswerable_share}, seed {seed}), so their questions are unanswerable"
        )
        t = time.perf_counter()
        report = build_index(local, embedder=embedder)
        index_seconds = time.perf_counter() - t
        say(report.summary())
        idx = open_index(local, embedder=embedder)
        items = squad.items[:limit]
        run = run_eval(idx, items, squad.corpus_dir, methods, progress, name=Path(squad_file).name)
        run.index_seconds = index_seconds
        run.notes.append(
            f"{squad.documents} paragraphs indexed; left out ({len(squad.left_out)} articles, "
            f"share {unanswerable_share}, seed {seed}): {', '.join(squad.left_out) or 'none'}"
        )
        for s in report.skipped:
            run.notes.append(f"skipped {s.source}: {s.reason}")
        return run


__all__ = [
    "METHODS",
    "RECALL_KS",
    "EvalRun",
    "Outcome",
    "Record",
    "evaluate_qa",
    "evaluate_squad",
    "combine",
    "rich_progress",
    "run_eval",
    "summarize",
]
