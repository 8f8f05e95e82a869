from __future__ import annotations

from eval.wrapped import wrap
from rag.clean import clean

PARAGRAPHS = [
    "The committee reconsidered the extraordinary circumstances surrounding the "
    "establishment of the international commission, and its representatives "
    "unanimously recommended comprehensive administrative reorganisation.",
    "Afterwards the secretariat circulated an explanatory memorandum describing "
    "the responsibilities of every participating organisation in considerable detail.",
    "Nevertheless several governments expressed reservations concerning the "
    "implementation timetable and the accompanying budgetary arrangements.",
]


def _halves(word: str) -> list[tuple[str, str]]:
    """A stand-in for pyphen's break points: every split leaving 3 letters or more a side."""
    return [(word[:k], word[k:]) for k in range(3, len(word) - 2)]


def test_wrapped_lines_fit_and_break_words_with_a_hyphen() -> None:
    for p in PARAGRAPHS:
        text = wrap(p, _halves, width=40)
        assert all(len(line) <= 40 for line in text.split("\n"))
        assert text.replace("-\n", "").replace("\n", " ") == p
    assert any("-\n" in wrap(p, _halves, width=40) for p in PARAGRAPHS)


def test_the_cleaner_reads_the_wrapped_paragraphs_as_written() -> None:
    text = "\n\n".join(wrap(p, _halves, width=40) for p in PARAGRAPHS)
    assert clean(text).text.split("\n") == PARAGRAPHS
