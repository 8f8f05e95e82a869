"""Training groups of ``rag.train``: which sentences a question is trained against (pure
logic on a two-paragraph fake corpus; no model)."""

from __future__ import annotations

import random

from rag.train import OtherParagraphs, Paragraph, Question, training_groups

PARAS = [
    Paragraph(
        "f",
        [
            "The bridge opened in 1932.",
            "Its steel arch was designed by engineers from Britain.",
            "Trains cross it daily.",
            "The harbour bridge arch carries eight lanes.",
            "Tourists climb it.",
        ],
    ),
    Paragraph("f", ["A ferry crosses the harbour.", "The arch of the opera house is white."]),
]
Q = Question("Which firm designed the harbour bridge arch?", 0, frozenset({1}))


def _negatives(hard: int, seed: int) -> list[str]:
    others = {"f": OtherParagraphs(PARAS, [0, 1])}
    (trip, labels), = training_groups(PARAS, [Q], others, random.Random(seed), 2, 0, hard)
    assert labels == [1.0, 0.0, 0.0] and trip[0][1] == PARAS[0].sentences[1]
    return [s for _, s, _ in trip[1:]]


def test_a_hard_negative_is_the_paragraphs_sentence_sharing_most_words_with_the_question() -> None:
    for seed in range(5):
        assert _negatives(1, seed)[0] == "The harbour bridge arch carries eight lanes."


def test_without_hard_negatives_the_paragraphs_others_are_drawn_at_random() -> None:
    firsts = {_negatives(0, seed)[0] for seed in range(12)}
    assert len(firsts) > 1
