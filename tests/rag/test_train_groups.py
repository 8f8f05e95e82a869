"""Training groups of ``rag.train``: which sentences a question is trained against (pure
logic on a two-paragraph fake corpus; no model)."""

from __future__ import annotations

import random
from pathlib import Path

from rag.train import (
    UNKNOWN,
    NamePool,
    OtherParagraphs,
    Paragraph,
    Question,
    answer_span,
    mentions,
    swapped,
    training_groups,
)

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
    Paragraph("f", ["A ferry crosses the harbour.", "The arch of the Opera House is white."]),
]
Q = Question("Which firm designed the harbour bridge arch?", 0, frozenset({1}))


def _negatives(hard: int, seed: int) -> list[str]:
    others = {"f": OtherParagraphs(PARAS, [0, 1])}
    ((trip, labels, _),) = training_groups(PARAS, [Q], others, random.Random(seed), 2, 0, hard)
    assert labels == [1.0, 0.0, 0.0] and trip[0][1] == PARAS[0].sentences[1]
    return [s for _, s, _ in trip[1:]]


def test_a_hard_negative_is_the_paragraphs_sentence_sharing_most_words_with_the_question() -> None:
    for seed in range(5):
        assert _negatives(1, seed)[0] == "The harbour bridge arch carries eight lanes."


def test_without_hard_negatives_the_paragraphs_others_are_drawn_at_random() -> None:
    firsts = {_negatives(0, seed)[0] for seed in range(12)}
    assert len(firsts) > 1


def test_mentions_are_names_and_numbers_not_the_first_word() -> None:
    text = "When did Queen Elizabeth open the Sydney Harbour Bridge in 1932?"
    assert [text[a:b] for a, b in mentions(text)] == [
        "Queen Elizabeth",
        "Sydney Harbour Bridge",
        "1932",
    ]
    assert [text[a:b] for a, b in mentions("Sydney opened it.")] == []


def test_a_swapped_question_names_what_its_paragraph_never_mentions() -> None:
    paras = [
        Paragraph(
            "f", ["The bridge in Sydney opened in 1932.", "Engineers from Britain built it."]
        ),
        Paragraph("f", ["The tunnel in Melbourne opened in 1990."]),
    ]
    pool = NamePool(paras, [0, 1])
    q = "When did the bridge in Sydney open?"
    for seed in range(5):
        out = swapped(q, paras[0], pool, random.Random(seed))
        assert out == "When did the bridge in Melbourne open?"
    q = "What opened in 1932?"
    assert swapped(q, paras[0], pool, random.Random(0)) == "What opened in 1990?"
    # nothing of the question is in its paragraph: nothing to swap
    assert swapped("Who built the tunnel?", paras[0], pool, random.Random(0)) is None


def test_with_name_pools_the_swapped_question_is_a_negative_against_the_answer() -> None:
    others = {"f": OtherParagraphs(PARAS, [0, 1])}
    pools = {"f": NamePool(PARAS, [0, 1])}
    q = Question("Which engineers from Britain designed the arch?", 0, frozenset({1}))
    ((trip, labels, spans),) = training_groups(PARAS, [q], others, random.Random(0), 1, 0, 0, pools)
    assert labels == [1.0, 0.0, 0.0]
    swap_q, sentence, _ = trip[-1]
    assert sentence == PARAS[0].sentences[1]
    assert swap_q == "Which engineers from Opera House designed the arch?"
    # no offsets in this fake paragraph: the answer's span is not taught; no answer elsewhere
    assert spans == [UNKNOWN, None, None]


def test_with_swap_source_the_swapped_question_also_meets_a_sentence_naming_its_new_name() -> None:
    others = {"f": OtherParagraphs(PARAS, [0, 1])}
    pools = {"f": NamePool(PARAS, [0, 1])}
    assert pools["f"].where["Opera House"] == [(1, 1)]
    q = Question("Which engineers from Britain designed the arch?", 0, frozenset({1}))
    ((plain, _, _),) = training_groups(PARAS, [q], others, random.Random(0), 1, 0, 0, pools)
    ((trip, labels, spans),) = training_groups(
        PARAS, [q], others, random.Random(0), 1, 0, 0, pools, source_rng=random.Random(1)
    )
    # every pair drawn as without it, then the swapped question against the sentence of the
    # other paragraph that names what was swapped in
    assert trip[: len(plain)] == plain and len(trip) == len(plain) + 1
    assert labels == [1.0, 0.0, 0.0, 0.0] and spans[-1] is None
    swap_q, sentence, _ = trip[-1]
    assert swap_q == "Which engineers from Opera House designed the arch?"
    assert sentence == PARAS[1].sentences[1] and "Opera House" in sentence


def test_the_answer_span_is_found_within_its_sentence_or_not_taught() -> None:
    context = "The bridge opened in 1932. Its arch was designed by Ralph Freeman."
    para = Paragraph(
        "f",
        ["The bridge opened in 1932.", "Its arch was designed by Ralph Freeman."],
        context,
        (0, 27),
    )
    a0 = context.index("Ralph")
    q = Question("Who designed the arch?", 0, frozenset({1}), ((a0, a0 + len("Ralph Freeman")),))
    c0, c1 = answer_span(para, q, 1)
    assert para.sentences[1][c0:c1] == "Ralph Freeman"
    across = Question("What happened?", 0, frozenset({0, 1}), ((4, 40),))  # two sentences
    assert answer_span(para, across, 0) == UNKNOWN == answer_span(para, across, 1)


def test_a_mining_pool_holds_what_may_be_a_negative_and_nothing_that_answers() -> None:
    from rag.train import mining_pool

    paras = [
        Paragraph(
            "f",
            ["The bridge opened in 1932.", "Dorman Long built its arch.", "Trains cross it."],
            context="The bridge opened in 1932. Dorman Long built its arch. Trains cross it.",
        ),
        Paragraph("f", ["Dorman Long also built a tower.", "The harbour arch is steel."]),
    ]
    q = Question("Which firm built the bridge arch?", 0, frozenset({1}), ((27, 38),))
    others = {"f": OtherParagraphs(paras, [0, 1])}
    taken = [(q.text, "Trains cross it.", None)]
    pool = [s for _, s, _ in mining_pool(paras, q, others, 5, taken)]
    # the paragraph's others not yet taken and the other paragraph's best, but never the
    # answering sentence, one already in the group, or another holding the answer as written
    assert pool == ["The bridge opened in 1932.", "The harbour arch is steel."]


def test_the_hardest_of_each_pool_are_its_highest_logits() -> None:
    import numpy as np

    from rag.train import hardest

    a = [("q", f"a{i}", None) for i in range(3)]
    b = [("q", f"b{i}", None) for i in range(2)]
    got = hardest([a, b], np.array([0.1, 2.0, 1.0, -1.0, 5.0]), 2)
    assert [[s for _, s, _ in g] for g in got] == [["a1", "a2"], ["b1", "b0"]]
    assert hardest([a, []], np.array([0.0, 1.0, 2.0]), 1) == [[a[2]], []]


def test_recorded_pipeline_groups_teach_no_span_where_no_answer_is_marked(tmp_path: Path) -> None:
    import json

    from rag.train import pipeline_groups

    path = tmp_path / "groups.json"
    path.write_text(
        json.dumps(
            [
                {
                    "q": "Who?",
                    "kind": "squad",
                    "pairs": [["A won.", None], ["B ran.", "A won."]],
                    "labels": [1.0, 0.0],
                },
                {"q": "When?", "kind": "left-out", "pairs": [["C sang.", None]], "labels": [0.0]},
            ]
        )
    )
    (trip, ys, spans), (trip2, ys2, spans2) = pipeline_groups(path)
    assert trip == [("Who?", "A won.", None), ("Who?", "B ran.", "A won.")] and ys == [1.0, 0.0]
    # the answer's place in its sentence was not recorded: not taught; a non-answer: none
    assert spans == [UNKNOWN, None]
    assert trip2 == [("When?", "C sang.", None)] and ys2 == [0.0] and spans2 == [None]


def test_a_question_naming_a_year_gets_a_non_answer_opened_by_that_date() -> None:
    from rag.train import date_opening

    context = "The bridge opened in 1932. Its arch was designed by Ralph Freeman. Trains cross it."
    para = Paragraph("f", context.replace(". ", ".|").split("|"), context, (0, 27, 67))
    a0 = context.index("Ralph")
    q = Question(
        "Who designed the arch of the bridge opened in March 1932?",
        0,
        frozenset({1}),
        ((a0, a0 + len("Ralph Freeman")),),
    )
    others = {"f": OtherParagraphs([para], [0])}
    dated_answers = 0
    for seed in range(20):
        ((trip, labels, spans),) = training_groups(
            [para], [q], others, random.Random(seed), 0, 0, decoy=True
        )
        assert labels == [1.0, 0.0]
        decoy = trip[-1][1]
        # a sentence that does not answer, opened by a date in the question's year (and its
        # month): "In 1932, trains cross it.", "March 5, 1932 — Trains cross it." ...
        assert "1932" in decoy.split(",")[0] + decoy.split("—")[0] and "Ralph" not in decoy
        assert decoy.endswith(
            (
                "trains cross it.",
                "Trains cross it.",
                "the bridge opened in 1932.",
                "The bridge opened in 1932.",
            )
        )
        assert "March" in decoy or decoy.startswith(("In 1932", "As of 1932"))
        answer = trip[0][1]
        c0, c1 = spans[0]  # the span follows the answering sentence, opened or not
        assert answer[c0:c1] == "Ralph Freeman" and answer.endswith(para.sentences[1][1:])
        dated_answers += answer != para.sentences[1]
    assert 0 < dated_answers < 20  # half the time: a date is no sign either way
    # no year in the question: nothing added
    plain = Question("Who designed the arch?", 0, frozenset({1}), q.answers)
    ((trip, labels, _),) = training_groups(
        [para], [plain], others, random.Random(0), 0, 0, decoy=True
    )
    assert labels == [1.0] and date_opening(plain.text, random.Random(0)) is None


def test_a_question_is_asked_again_of_the_year_its_answering_sentence_names() -> None:
    from rag.train import dated_question

    context = (
        "The bridge opened in 1932. Its arch, built in 1930, was by Ralph Freeman. Trains run."
    )
    para = Paragraph("f", context.replace(". ", ".|").split("|"), context, (0, 27, 74))
    a0 = context.index("Ralph")
    q = Question("Who designed the arch?", 0, frozenset({1}), ((a0, a0 + len("Ralph Freeman")),))
    others = {"f": OtherParagraphs([para], [0])}
    (plain, ys0, _), (trip, labels, spans) = training_groups(
        [para], [q], others, random.Random(0), 1, 0, dated_questions=True
    )
    assert [t[0] for t in plain] == [q.text] * 2 and ys0 == [1.0, 0.0]  # the question as asked
    assert {t[0] for t in trip} == {"Who designed the arch in 1930?"} and labels == [1.0, 0.0, 0.0]
    r0 = para.sentences[1].index("Ralph")
    assert trip[0][1] == para.sentences[1] and spans[0] == (r0, r0 + len("Ralph Freeman"))
    negatives = [s for _, s, _ in trip[1:]]
    assert all("1930" in s and s.endswith(("opened in 1932.", "rains run.")) for s in negatives)
    # no new question when it names a year already, its sentence none, or the year is an answer
    assert dated_question("Who designed it in 1929?", para.sentences[1], []) is None
    assert dated_question("Who designed it?", para.sentences[2], []) is None
    assert dated_question("When was it built?", para.sentences[1], ["1930"]) is None
    ((only, _, _),) = training_groups([para], [q], others, random.Random(0), 1, 0)
    assert only == plain


def test_an_erased_answer_leaves_a_sentence_that_still_looks_as_if_it_answered() -> None:
    from rag.train import erased

    sentence = "Putin visited troops in the city of Kursk on March 12, wearing military gear."
    a0 = sentence.index("March")
    cut = erased(sentence, (a0, a0 + len("March 12")), ["march 12"])
    assert cut == "Putin visited troops in the city of Kursk, wearing military gear."
    lead = erased(sentence, (0, len("Putin")), ["putin"])
    assert lead == "Visited troops in the city of Kursk on March 12, wearing military gear."
    # nothing to teach: no known answer, an answer that is most of it, or one still there
    assert erased(sentence, None, []) is None and erased(sentence, UNKNOWN, []) is None
    assert erased(sentence, (0, 60), []) is None
    assert erased("Kursk is where Kursk lies.", (0, 5), ["kursk"]) is None


def test_with_erase_the_answering_sentence_without_its_answer_is_a_negative() -> None:
    context = "The bridge opened in 1932. Its arch was designed by Ralph Freeman in London."
    para = Paragraph("f", context.replace(". ", ".|").split("|"), context, (0, 27))
    a0 = context.index("Ralph")
    q = Question("Who designed the arch?", 0, frozenset({1}), ((a0, a0 + len("Ralph Freeman")),))
    others = {"f": OtherParagraphs([para], [0])}
    ((trip, labels, spans),) = training_groups(
        [para], [q], others, random.Random(0), 1, 0, erase=True
    )
    assert labels == [1.0, 0.0, 0.0] and spans[1:] == [None, None]
    assert trip[-1] == (q.text, "Its arch was designed in London.", para.sentences[0])
    ((plain, _, _),) = training_groups([para], [q], others, random.Random(0), 1, 0)
    assert plain == trip[:-1]


def test_a_why_question_is_reasked_when_of_a_sentence_that_says_nothing_of_when() -> None:
    from rag.train import WHEN_FORMS, reasked

    sentence = "The council closed the bridge because its cables had rusted."
    asked = {
        reasked("Why did the council close the bridge?", sentence, None, random.Random(s))
        for s in range(12)
    }
    assert asked == {f"{w} did the council close the bridge?" for w in WHEN_FORMS}


def test_no_reasking_when_a_sentence_may_say_when_or_the_question_is_not_why_how_where() -> None:
    from rag.train import reasked

    rng = random.Random(0)
    q = "Why did the council close the bridge?"
    assert reasked(q, "The council closed the bridge in 1990 after a storm.", None, rng) is None
    assert reasked(q, "The council closed the bridge in March.", None, rng) is None
    assert (
        reasked(q, "The council closed it, its cables rusted.", "Years later, it rained.", rng)
        is None
    )
    # "What did ..." would lose its object: "When did the council close?"
    assert (
        reasked("What did the council close?", "The council closed the bridge.", None, rng) is None
    )


def test_a_reasked_question_is_one_more_negative_against_its_answering_sentence() -> None:
    paras = [
        Paragraph("f", ["Tourists like it.", "The council closed the bridge because it rusted."])
    ]
    q = Question("Why did the council close the bridge?", 0, frozenset({1}))
    others = {"f": OtherParagraphs(paras, [0])}
    ((trip, labels, spans),) = training_groups(
        paras, [q], others, random.Random(0), 1, 0, reask=True
    )
    assert labels == [1.0, 0.0, 0.0]
    assert (
        trip[-1][1] == trip[0][1]
        and trip[-1][0] != q.text
        and trip[-1][0].endswith("did the council close the bridge?")
    )
    assert spans[-1] is None
    ((plain, _, _),) = training_groups(paras, [q], others, random.Random(0), 1, 0)
    assert len(plain) == 2


def test_a_question_naming_its_title_is_read_under_another_articles_title_as_a_negative() -> None:
    from rag.train import retitled, titles_by_file

    bridge = Paragraph(
        "f", ["It opened in 1932.", "Its arch was designed in Britain."], title="Sydney Harbour Bridge"
    )
    other = Paragraph("f", ["Ferries cross the harbour."], title="Harbour ferries")
    far = Paragraph("f", ["Dukes ruled them."], title="Normans")
    paras = [bridge, other, far, other]
    titles = titles_by_file(paras)
    assert titles == {"f": ["Sydney Harbour Bridge", "Harbour ferries", "Normans"]}
    q = Question("Where was the bridge's arch designed?", 0, frozenset({1}))
    # a title sharing a word with the question is never drawn: the question might ask of it
    # ("harbour" asked: not "Harbour ferries")
    named = "Where was the harbour bridge's arch designed?"
    assert retitled(named, bridge, titles["f"], random.Random(0)) == "Normans"
    # the question names nothing of a post's title: no negative
    post = Paragraph("f", ["It opened in 1932."], title="post 12")
    assert retitled("When did it open?", post, titles["f"], random.Random(0)) is None
    others = {"f": OtherParagraphs(paras, [0, 1, 2])}
    with_it = training_groups(
        paras, [q], others, random.Random(0), 1, 0, retitle=titles, retitle_rng=random.Random(1)
    )
    ((trip, labels, spans),) = with_it
    assert labels == [1.0, 0.0, 0.0] and spans[-1] is None
    # the answering sentence itself, read under the other article's title
    assert trip[-1][1] == trip[0][1] == bridge.sentences[1]
    assert trip[-1][0] != trip[0][0] and trip[-1][0].startswith(q.text)
    # and every other pair drawn as without it
    ((plain, _, _),) = training_groups(paras, [q], others, random.Random(0), 1, 0)
    assert plain == trip[:-1]


def test_masking_hides_the_words_a_question_shares_with_its_sentence_but_not_its_names() -> None:
    from rag.train import MASK, masked

    sentence = "Its steel arch was designed by engineers from Britain."
    assert masked("Which engineers from Britain designed the arch?", sentence) == (
        f"Which {MASK} from Britain {MASK} the {MASK}?"
    )
    assert masked("Who climbs it?", sentence) is None  # nothing shared: nothing to hide
    assert masked("designed arch?", sentence) is None  # nothing would be left to read


def test_with_mask_share_a_drawn_question_is_masked_in_its_group_and_nothing_else_changes() -> None:
    from rag.train import MASK

    others = {"f": OtherParagraphs(PARAS, [0, 1])}
    q = Question("Which engineers from Britain designed the arch?", 0, frozenset({1}))
    ((plain, labels0, _),) = training_groups(PARAS, [q], others, random.Random(0), 2, 1, 1)
    ((trip, labels, _),) = training_groups(
        PARAS, [q], others, random.Random(0), 2, 1, 1, mask_share=1.0, mask_rng=random.Random(0)
    )
    assert labels == labels0 and len(trip) == len(plain)
    # the same sentences, each read with the masked question
    assert [t[1:] for t in trip] == [t[1:] for t in plain]
    assert {t[0] for t in trip} == {f"Which {MASK} from Britain {MASK} the {MASK}?"}
    ((none, _, _),) = training_groups(
        PARAS, [q], others, random.Random(0), 2, 1, 1, mask_share=0.0, mask_rng=random.Random(0)
    )
    assert none == plain
