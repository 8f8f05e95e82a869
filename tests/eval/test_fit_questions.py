"""``eval.fit``: the questions it asks a reader to refuse, and how it counts an answer's words."""

from __future__ import annotations

import json
from pathlib import Path

from eval.dataset import QAItem
from eval.fit import remove_answers

TEXT = (
    "The bridge opened to traffic in 1932. It was designed by John Bradfield. "
    "The bridge carries rail, vehicles and pedestrians."
)


def test_the_sentence_holding_the_answer_is_cut_and_its_questions_become_unanswerable(
    tmp_path: Path,
) -> None:
    (tmp_path / "a.txt").write_text(TEXT, encoding="utf-8")
    items = [QAItem("1", "Who designed the bridge?", ("John Bradfield",), ("a.txt",), "squad")]
    out = remove_answers(items, tmp_path, 1.0, seed=0)
    left = (tmp_path / "a.txt").read_text(encoding="utf-8")
    assert "Bradfield" not in left
    assert left.startswith("The bridge opened") and left.endswith("and pedestrians.")
    assert not out[0].answerable
    assert out[0].type == "answer-removed" and out[0].withheld == ("John Bradfield",)


def test_other_questions_keep_their_answers_and_a_one_sentence_paragraph_is_not_cut(
    tmp_path: Path,
) -> None:
    (tmp_path / "a.txt").write_text(TEXT, encoding="utf-8")
    (tmp_path / "b.txt").write_text("Only Bradfield designed it.", encoding="utf-8")
    items = [
        QAItem("1", "Who designed the bridge?", ("John Bradfield",), ("a.txt",), "squad"),
        QAItem("2", "When did it open?", ("1932",), ("a.txt",), "squad"),
        QAItem("3", "Who designed it?", ("Bradfield",), ("b.txt",), "squad"),
        QAItem("4", "Who paid?", (), (), "left-out", ("the state",)),
    ]
    out = remove_answers(items, tmp_path, 1.0, seed=0)
    removed = {it.id for it in out if it.type == "answer-removed"}
    assert len(removed) == 1 and removed <= {"1", "2"}
    kept = next(it for it in out if it.id in {"1", "2"} - removed)
    assert kept.answerable and kept.answers[0] in (tmp_path / "a.txt").read_text()
    assert out[2] == items[2] and (tmp_path / "b.txt").read_text() == "Only Bradfield designed it."
    assert out[3] == items[3]


def test_a_swapped_question_is_added_unanswerable_and_names_what_its_paragraph_lacks(
    tmp_path: Path,
) -> None:
    from eval.fit import swap_names

    (tmp_path / "a.txt").write_text(TEXT, encoding="utf-8")
    (tmp_path / "b.txt").write_text(
        "The tunnel was designed by Mary Nolan in 1990.", encoding="utf-8"
    )
    items = [
        QAItem(
            "1", "Who designed the bridge that opened in 1932?", ("John Bradfield",), ("a.txt",)
        ),
        QAItem("2", "Who paid?", (), (), "left-out", ("the state",)),
    ]
    out = swap_names(items, tmp_path, 1.0, seed=0)
    assert out[:2] == items
    (swap,) = out[2:]
    assert swap.question == "Who designed the bridge that opened in 1990?"
    assert not swap.answerable and swap.type == "name-swapped"
    assert swap.withheld == ("John Bradfield",)


def test_an_answer_counts_the_words_of_the_context_a_quote_brings_along() -> None:
    from eval.fit import shown_words

    before = "Putin met the envoy in Moscow on Thursday."
    assert shown_words("The talks lasted three hours.", before) == 5
    assert shown_words("He said the talks went well.", before) == 6 + 8
    assert shown_words("He said the talks went well.", None) == 6


def test_the_word_budget_holds_on_every_corpus_not_only_pooled() -> None:
    import numpy as np

    from eval.fit import choose_quoting, quote

    # (probability, answers, words shown) of the sentences read, best first. A second
    # sentence holds the answer more often, but on corpus 0 it brings the median to 50 words;
    # pooled with corpus 1's many short answers the median would stay at 20
    long = [(0.9, False, 25), (0.5, True, 25)]
    short = [(0.9, False, 10), (0.5, True, 10)]
    oof = [long] * 10 + [short] * 30
    corpus = np.array([0] * 10 + [1] * 30)
    also, most, report = choose_quoting(oof, np.ones(40, dtype=bool), corpus, threshold=0.1)
    assert quote(long, also, most, 0.1) == [0]  # one sentence, within the budget
    assert report["answer_among_quotes"] == 0.0
    # with corpus 0 as short as corpus 1, the second sentence is quoted
    also, most, report = choose_quoting([short] * 40, np.ones(40, dtype=bool), corpus, 0.1)
    assert quote(short, also, most, 0.1) == [0, 1] and report["answer_among_quotes"] == 1.0


def test_pipeline_groups_hold_the_candidates_read_their_answering_one_first() -> None:
    import numpy as np

    from eval.fit import Asked, pipeline_groups
    from rag.features import FIRST_FEATURES, Logistic

    n = len(FIRST_FEATURES)
    # the first model ranks by the first column alone
    first = Logistic(FIRST_FEATURES, (0.0,) * n, (1.0,) * n, (1.0,) + (0.0,) * (n - 1), 0.0)
    rows = np.zeros((4, n))
    rows[:, 0] = [0.1, 0.9, 0.5, 0.7]
    pairs = [(f"s{i}", None) for i in range(4)]
    titles = [f"t{i}" for i in range(4)]
    found = Asked("q?", 0, True, rows, np.array([0.0, 0.0, 1.0, 0.0]), pairs, titles=titles)
    refused = Asked("r?", 0, False, rows, np.zeros(4), pairs, kind="left-out")
    missed = Asked("m?", 0, True, rows, np.array([1.0, 0.0, 0.0, 0.0]), pairs)
    a, b, c = pipeline_groups([found, refused, missed], first, 3)
    # the three the first model ranks best (s1, s3, s2), the answering s2 moved to the front
    assert [s for s, _ in a["pairs"]] == ["s2", "s1", "s3"] and a["labels"] == [1.0, 0.0, 0.0]
    assert a["titles"] == ["t2", "t1", "t3"] and b["titles"] == []  # each with its document's
    assert [s for s, _ in b["pairs"]] == ["s1", "s3", "s2"] and b["labels"] == [0.0] * 3
    assert b["kind"] == "left-out"
    # an answering sentence the first model would not hand over is not brought in
    assert "s0" not in [s for s, _ in c["pairs"]] and c["labels"] == [0.0] * 3


def test_a_recorded_question_keeps_its_candidates_titles_through_the_cache() -> None:
    import numpy as np

    from eval.fit import Asked, _from_json, _to_json
    from rag.features import FIRST_FEATURES

    rows = np.zeros((2, len(FIRST_FEATURES)))
    a = Asked("q?", 1, True, rows, np.array([1.0, 0.0]), [("s0", None), ("s1", "s0")],
              {0: (2.0, 1.0)}, "squad", ["Andes", "post 3"])
    back = _from_json(json.loads(json.dumps(_to_json(a))))
    assert back.titles == ["Andes", "post 3"] and back.pairs == a.pairs and back.ce == a.ce
    old = _to_json(a)
    del old["titles"]  # recorded before titles were kept
    assert _from_json(old).titles == []


def test_by_source_judges_each_source_by_models_fitted_on_the_other_two() -> None:
    import numpy as np

    from eval.fit import Asked, by_source
    from rag.features import FIRST_FEATURES

    def right_by_source(column_of: list[int]) -> list[float]:
        """Best sentence right per source left out, when in source ``s`` only column
        ``column_of[s]`` tells the answering sentence (the cross-encoder tells nothing)."""
        rng = np.random.default_rng(0)
        n = len(FIRST_FEATURES)
        asked = []
        for corpus in range(6):  # two corpora per source, in FILES' order
            for q in range(40):
                answerable = q % 4 != 0
                labels = np.zeros(4)
                if answerable:
                    labels[q % 4 - 1] = 1.0
                rows = rng.normal(0.0, 0.1, (4, n))
                rows[:, column_of[corpus // 2]] += 2 * labels
                ce = {i: (0.0, 0.0) for i in range(4)}
                pairs = [(f"sentence {i}", None) for i in range(4)]
                kind = "squad" if answerable else "left-out"
                asked.append(Asked(f"q{q}?", corpus, answerable, rows, labels, pairs, ce, kind))
        lines: list[str] = []
        by_source(asked, 3, 1.0, lines.append)
        cells = [line.strip("| ").split(" | ") for line in lines[2:]]
        assert [c[0] for c in cells] == ["new_wiki", "reddit", "amazon_reviews"]
        return [float(c[1]) for c in cells]

    # one signal shared by every source: each source left out is read right
    assert right_by_source([0, 0, 0]) == [1.0, 1.0, 1.0]
    # a signal of each source's own: a source left out is judged by models that never saw
    # its signal, so they read it no better than by chance
    assert max(right_by_source([0, 1, 2])) < 0.6


def test_by_overlap_parts_the_answerable_questions_by_the_words_their_sentence_repeats() -> None:
    import numpy as np

    from eval.fit import Asked, by_overlap, word_overlap
    from rag.features import FIRST_FEATURES

    words = ["harbour", "bridge", "opened", "traffic"]
    rng = np.random.default_rng(0)
    asked = []
    for corpus in range(2):
        for q in range(120):
            answerable = q % 6 != 0
            repeats = q % 5  # of the question's 4 words, in its answering sentence
            labels = np.zeros(4)
            if answerable:
                labels[q % 4] = 1.0
            rows = rng.normal(0.0, 0.1, (4, len(FIRST_FEATURES)))
            if repeats >= 3:  # only a sentence repeating the question's words is told apart
                rows[:, 0] += 2 * labels
            pairs = [
                (" ".join(words[:repeats] if labels[i] else ["ferry"]) + ".", None) for i in range(4)
            ]
            ce = {i: (0.0, 0.0) for i in range(4)}
            kind = "squad" if answerable else "left-out"
            question = " ".join(words) + "?"
            asked.append(Asked(question, corpus, answerable, rows, labels, pairs, ce, kind))
    assert word_overlap(asked[3]) == 0.75 and word_overlap(asked[0]) is None
    lines: list[str] = []
    by_overlap(asked, 3, 1.0, lines.append)
    cells = [line.strip("| ").split(" | ") for line in lines[3:]]
    assert len(cells) == 4
    assert sum(int(c[1]) for c in cells) == sum(a.answerable for a in asked)
    right = [float(c[3]) for c in cells]
    # questions whose sentence repeats few of their words are picked by chance; the rest right
    assert right[0] < 0.6 and right[-1] == 1.0
