"""The eval's per-question scoring and its summary, on hand-made outcomes (pure logic)."""

from __future__ import annotations

from eval.dataset import QAItem
from eval.report import table_rows
from eval.run import EvalRun, Outcome, Record, _score, right_sentence_rank, summarize

RANKED = (
    "The truce was announced on Monday.",
    "Talks resumed in Istanbul on 16 May.",
    "The delegations met for two hours.",
)


def test_right_sentence_rank_is_the_first_sentence_with_an_answer() -> None:
    assert right_sentence_rank(RANKED, ["Istanbul"]) == 2
    assert right_sentence_rank(RANKED, ["two hours", "Monday"]) == 1
    assert right_sentence_rank(RANKED, ["Geneva"]) is None
    assert right_sentence_rank((), ["Istanbul"]) is None


def _outcome(answer: str, sentences: tuple[str, ...], abstained: bool = False) -> Outcome:
    cits = [] if abstained else [{"source": "a.txt", "quote": answer, "grounded": True}]
    return Outcome(answer, abstained, cits, 1.0, ["a.txt"], sentences=sentences)


def _scored(item: QAItem, out: Outcome) -> Outcome:
    _score(item, out, lambda: [("a.txt", " ".join(RANKED))])
    return out


def test_score_records_the_rank_and_names_it_for_a_wrong_sentence() -> None:
    item = QAItem("q1", "Where did the talks resume?", ("Istanbul",), ("a.txt",))
    out = _scored(item, _outcome(f"{RANKED[0]} [1]", RANKED))
    assert out.failures == ["wrong sentence"]
    assert out.checks["right_sentence_rank"] == 2
    # the baseline ranks no sentences: no rank recorded
    base = _scored(item, _outcome(" ".join(RANKED), ()))
    assert "right_sentence_rank" not in base.checks


def test_summary_shares_of_right_first_and_top_three_over_answered_questions() -> None:
    items = [
        QAItem("q1", "Where did the talks resume?", ("Istanbul",), ("a.txt",)),
        QAItem("q2", "When was the truce announced?", ("Monday",), ("a.txt",)),
        QAItem("q3", "Who met in Geneva?", ("Geneva envoys",), ("a.txt",)),
        QAItem("q4", "How long did they meet?", ("two hours",), ("a.txt",)),  # abstained: left out
    ]
    outs = [
        _outcome(f"{RANKED[0]} [1]", RANKED),  # right sentence 2nd
        _outcome(f"{RANKED[0]} [1]", RANKED),  # right sentence 1st
        _outcome(f"{RANKED[0]} [1]", RANKED),  # right sentence nowhere
        _outcome("", RANKED, abstained=True),
    ]
    records = [
        Record(
            it,
            {"hybrid": _scored(it, o), "top-passage": _scored(it, _outcome(" ".join(RANKED), ()))},
        )
        for it, o in zip(items, outs, strict=True)
    ]
    s = summarize(records, "hybrid")
    assert s["right_sentence_first"] == 1 / 3
    assert s["right_sentence_top3"] == 2 / 3
    assert summarize(records, "top-passage")["right_sentence_first"] is None
    run = EvalRun(
        "t",
        ("hybrid", "top-passage"),
        records,
        {m: summarize(records, m) for m in ("hybrid", "top-passage")},
        0.0,
    )
    rows = dict(table_rows(run))
    assert rows["Right sentence ranked 1st"] == ["0.333", "—"]
    assert rows["Right sentence in top 3"] == ["0.667", "—"]


def test_first_quote_counts_only_when_the_first_cited_sentence_holds_the_answer() -> None:
    item = QAItem("q1", "Where did the talks resume?", ("Istanbul",), ("a.txt",))
    first = _outcome(f"{RANKED[1]} [1] {RANKED[0]} [2]", RANKED)
    first.citations = [{"source": "a.txt", "quote": q, "grounded": True} for q in RANKED[1::-1]]
    second = _outcome(f"{RANKED[0]} [1] {RANKED[1]} [2]", RANKED)
    second.citations = [{"source": "a.txt", "quote": q, "grounded": True} for q in RANKED[:2]]
    a, b = _scored(item, first), _scored(item, second)
    assert a.checks["answer_hit"] and a.checks["first_quote_hit"]
    assert b.checks["answer_hit"] and not b.checks["first_quote_hit"]


def test_runs_over_several_seeds_give_the_mean_and_each_seeds_range() -> None:
    from eval.run import combine

    item = QAItem("q1", "Where did the talks resume?", ("Istanbul",), ("a.txt",))

    def run_of(answer: str) -> EvalRun:
        recs = [Record(item, {"hybrid": _scored(item, _outcome(answer, RANKED))})]
        return EvalRun("t", ("hybrid",), recs, {"hybrid": summarize(recs, "hybrid")}, 1.0)

    both = combine([run_of(f"{RANKED[1]} [1]"), run_of(f"{RANKED[0]} [1]")], ["s0", "s1"])
    assert both.summaries["hybrid"]["answer_hit"] == 0.5
    assert [r.item.id for r in both.records] == ["s0:q1", "s1:q1"]
    assert dict(table_rows(both))["Answer hit"] == ["0.500 (0.000–1.000)"]
