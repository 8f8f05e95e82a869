"""The gate: the bundled Q&A set, run through the real answerer on the session index."""

from __future__ import annotations

import pytest

from eval import gate
from eval.dataset import DEFAULT_QA, load_qa
from eval.run import run_eval


def test_gate_reports_each_missed_threshold() -> None:
    good = {"answer_hit": 0.95, "grounding": 1.0, "abstention_recall": 0.9}
    assert gate.check(good) == []
    bad = gate.check({"answer_hit": 0.5, "grounding": 0.99, "abstention_recall": None})
    assert len(bad) == 3
    assert f"answer hit 0.500 is under {gate.MIN_ANSWER_HIT:.2f}" in bad[0]
    assert "grounding" in bad[1] and "undefined" in bad[2]


@pytest.mark.slow
def test_bundled_set_passes_the_gate(index, built) -> None:
    """Answer hit, grounding and abstention recall of the full answerer on eval/qa.jsonl."""
    run = run_eval(index, load_qa(DEFAULT_QA), built.corpus_dir, methods=("hybrid",))
    summary = run.summaries["hybrid"]
    assert summary["questions"] >= 80 and summary["errors"] == 0
    misses = gate.check(summary)
    failed = [
        f"  {r.item.id} ({', '.join(r.outcomes['hybrid'].failures)}): {r.item.question}"
        for r in run.failed("hybrid")
    ]
    assert not misses, "; ".join(misses) + "\nfailed questions:\n" + "\n".join(failed)
