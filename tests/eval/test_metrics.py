"""The eval's measures on tiny hand-made inputs, where the right value is known."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from eval.metrics import (
    GroundingChecker,
    abstention_scores,
    answer_hit,
    best_em_f1,
    check_span,
    citation_precision_recall,
    dedupe_sources,
    exact_match,
    normalize_answer,
    percentile,
    retrieval_scores,
    strip_markers,
    token_f1,
    word_count,
)


# -- SQuAD normalisation, EM, F1 ------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "norm"),
    [
        ("The Denver Broncos", "denver broncos"),
        ("  a   cat,  an apple; the END. ", "cat apple end"),
        ("U.S.", "us"),
        ("86%", "86"),
        ("theatre", "theatre"),  # "the" inside a word stays
    ],
)
def test_normalize_answer_follows_squad(raw: str, norm: str) -> None:
    assert normalize_answer(raw) == norm


def test_exact_match_and_f1() -> None:
    assert exact_match("the Broncos!", "Broncos") == 1.0
    assert exact_match("Denver Broncos", "Broncos") == 0.0
    # pred 3 tokens, gold 2, overlap 2: P 2/3, R 1, F1 0.8
    assert token_f1("Denver Broncos won", "Denver Broncos") == pytest.approx(0.8)
    assert token_f1("Carolina", "Denver Broncos") == 0.0
    assert token_f1("", "Denver") == 0.0


def test_best_em_f1_takes_the_best_sentence_and_gold() -> None:
    quotes = ["Carolina lost the game.", "The Broncos won."]
    em, f1, best = best_em_f1(quotes, ["Denver Broncos", "Broncos"])
    assert best == "The Broncos won."
    assert em == 0.0
    # best gold is "Broncos": pred tokens [broncos, won], P 1/2, R 1, F1 2/3
    assert f1 == pytest.approx(2 / 3)
    assert best_em_f1([], ["x"]) == (0.0, 0.0, None)


def test_answer_hit_matches_whole_words_and_ignores_markers() -> None:
    assert answer_hit("Gerasimov said Russia retook 86% of it. [1]", ["86%"])
    assert answer_hit("He met Mike  Waltz. [1] [2]", ["mike waltz"])
    assert not answer_hit("They captured 4000 soldiers. [1]", ["400"])
    # the marker [1] must not pass for a gold answer "1"
    assert not answer_hit("Nothing numeric here. [1]", ["1"])
    assert not answer_hit("", ["Kursk"])
    # typographic punctuation glues to no word: curly quotes, em dashes, possessives
    assert answer_hit("treated as “terrorists” under law. [1]", ["terrorists"])
    assert answer_hit("no bullets—just talking,” he said. [1]", ["just talking"])
    assert answer_hit("Putin’s aide Ushakov’s words. [1]", ["Ushakov"])
    assert answer_hit("a 30-day truce and 2,850 km [1]", ["30-day", "nothing"])
    assert answer_hit("It is 2,850 km long. [1]", ["2,850 km"])


def test_strip_markers_and_word_count() -> None:
    assert strip_markers("One. [1] Two three. [2]") == "One. Two three."
    assert word_count("One. [1] Two three. [2]") == 3


# -- citations and abstention ----------------------------------------------------------------
def test_citation_precision_recall() -> None:
    assert citation_precision_recall(["a", "b"], ["a"]) == (0.5, 1.0)
    assert citation_precision_recall(["a"], ["a", "c"]) == (1.0, 0.5)
    assert citation_precision_recall([], ["a"]) == (None, 0.0)
    assert citation_precision_recall(["a"], []) == (0.0, None)


def test_abstention_scores() -> None:
    # (answerable, abstained): 2 unanswerable (1 abstained), 4 answerable (1 abstained)
    s = abstention_scores(
        [(False, True), (False, False), (True, True), (True, False), (True, False), (True, False)]
    )
    assert s["abstention_precision"] == pytest.approx(0.5)
    assert s["abstention_recall"] == pytest.approx(0.5)
    assert s["false_abstention"] == pytest.approx(0.25)
    none = abstention_scores([(True, False)])
    assert none["abstention_precision"] is None and none["abstention_recall"] is None


def test_percentile() -> None:
    assert percentile([10, 20, 30, 40], 50) == pytest.approx(25.0)
    assert percentile([1.0] * 19 + [100.0], 95) == pytest.approx(5.95)
    assert percentile([], 50) is None


# -- retrieval, computed by ir-measures ------------------------------------------------------
def test_retrieval_scores_on_a_known_ranking() -> None:
    rankings = {
        "q1": ["b.txt", "b.txt", "x.txt", "a.txt"],  # chunks: b twice -> files b, x, a
        "q2": ["z.txt"],  # gold never retrieved
        "q3": [],  # nothing retrieved at all still counts, as 0
    }
    gold = {"q1": ["a.txt", "b.txt"], "q2": ["c.txt"], "q3": ["d.txt"], "q4": []}
    means, per = retrieval_scores(rankings, gold)
    assert set(per) == {"q1", "q2", "q3"}  # no gold, no retrieval score
    assert per["q1"]["recall@1"] == pytest.approx(0.5)
    assert per["q1"]["recall@3"] == pytest.approx(1.0)
    assert per["q1"]["mrr"] == pytest.approx(1.0)
    # DCG = 1 + 1/log2(4) = 1.5; ideal = 1 + 1/log2(3)
    assert per["q1"]["ndcg@10"] == pytest.approx(1.5 / (1 + 1 / math.log2(3)))
    assert per["q2"]["recall@10"] == 0.0
    assert means["recall@1"] == pytest.approx(0.5 / 3)
    assert means["mrr"] == pytest.approx(1 / 3)


def test_dedupe_sources_keeps_first_rank() -> None:
    assert dedupe_sources(["b", "a", "b", "c", "a"]) == ["b", "a", "c"]


# -- grounding ---------------------------------------------------------------------------------
ORIGINAL = "Title\nBy Ann Lee\nShe said [the talks](https://x.org/a) would **resume** soon.\nEnd."


def test_check_span_accepts_the_quote_with_markup_dropped() -> None:
    start = ORIGINAL.index("She")
    end = ORIGINAL.index("soon.") + len("soon.")
    assert check_span(ORIGINAL, start, end, "She said the talks would resume soon.").ok


def test_check_span_accepts_a_word_the_cleaner_made_whole_across_a_line_break() -> None:
    original = "the dominant archi-\ntecture and well-\nknown reviews."
    assert check_span(original, 0, len(original), "the dominant architecture and well-known reviews.").ok
    assert not check_span(original, 0, len(original), "the dominant architec ture and well-known reviews.").ok


def test_check_span_rejects_wrong_offsets_and_wrong_text() -> None:
    start = ORIGINAL.index("She")
    end = ORIGINAL.index("soon.") + len("soon.")
    quote = "She said the talks would resume soon."
    shifted = check_span(ORIGINAL, start + 1, end, quote)
    assert not shifted.ok and "differs" in shifted.reason
    assert not check_span(ORIGINAL, start, end, "She said the talks would end soon.").ok
    assert not check_span(ORIGINAL, 0, len(ORIGINAL) + 5, quote).ok
    assert not check_span(ORIGINAL, 5, 5, "").ok
    # a span that runs over a line the quote leaves out is not that quote
    assert not check_span(ORIGINAL, 0, end, "Title\n" + quote).ok


def test_check_span_needs_the_words_in_order() -> None:
    # same letters, different word boundaries: "ab c" is not "a bc"
    assert not check_span("ab c", 0, 4, "a bc").ok


def test_grounding_checker_rereads_files(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text(ORIGINAL, encoding="utf-8")
    checker = GroundingChecker(tmp_path)
    start = ORIGINAL.index("She")
    assert checker.check("a.md", start, start + 3, "She").ok
    missing = checker.check("gone.txt", 0, 3, "She")
    assert not missing.ok and "gone.txt" in missing.reason


def test_disagreement_scores() -> None:
    from eval.metrics import disagreement_scores

    s = disagreement_scores([(True, True), (True, True), (True, False), (False, False)])
    assert s == {"disagreement_judged": 4, "disagreement_precision": 1.0,
                 "disagreement_recall": 2 / 3}
    assert disagreement_scores([]) == {"disagreement_judged": 0, "disagreement_precision": None,
                                       "disagreement_recall": None}
