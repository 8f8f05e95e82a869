"""The date probe's cases (``eval.probe``): pure logic on a fake paragraph, no model."""

from __future__ import annotations

import pytest

from eval.probe import OPENINGS, cases
from rag.train import Paragraph, Question
from tests.conftest import TRAINING_DATA, needs_training_data

PARAS = [
    Paragraph(
        "f", ["The bridge opened in 1932.", "Dorman Long built its arch.", "Trains cross it."]
    ),
    Paragraph("f", ["A ferry crosses the harbour."]),
]


def test_a_question_naming_a_year_is_probed_with_a_sentence_that_names_none() -> None:
    q = Question("Who built the arch in 1930?", 0, frozenset({1}))
    ((answer, *opened),) = cases(PARAS, [q], skip=set())
    assert answer[1] == "Dorman Long built its arch." and len(opened) == len(OPENINGS)
    plain, same, other, neutral, closing = (s for _, s, _ in opened)
    assert plain == "Trains cross it."  # "The bridge opened in 1932." names a year itself
    assert same.startswith("On ") and same.endswith(", 1930, trains cross it.")
    assert "1930" not in other and other.endswith(", trains cross it.")
    assert neutral == "In the meantime, as often before, trains cross it."
    month = same.split()[1]
    assert closing == f"Trains cross it, in {month} 1930."
    assert all(c == "Dorman Long built its arch." for _, _, c in opened)  # the sentence before


def test_questions_without_a_year_or_from_skipped_paragraphs_are_not_probed() -> None:
    assert cases(PARAS, [Question("Who built the arch?", 0, frozenset({1}))], skip=set()) == []
    q = Question("Who built the arch in 1930?", 0, frozenset({1}))
    assert cases(PARAS, [q], skip={0}) == []


@needs_training_data
def test_the_probe_reads_the_shipped_reader_on_paragraphs_it_never_trained_on(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from eval.probe import main

    main(["--data", str(TRAINING_DATA)])
    out = capsys.readouterr().out
    n = int(out.split(": ")[1].split()[0])
    rows = [line for line in out.splitlines() if line.startswith("| ") and "---" not in line]
    assert n > 50 and len(rows) == 1 + len(OPENINGS) + 1  # the header, each opening, the answer
