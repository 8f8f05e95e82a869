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
