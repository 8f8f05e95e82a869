"""Pure logic of the answerer, with tiny hand-made vectors (no model needed)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from rag.answer import (
    Candidate,
    asked_attribute,
    asks_author,
    build_answer,
    decide,
    expected_type,
    gives_reason,
    has_type,
    names_not_retrieved,
    near_words,
    needs_previous,
    score_candidates,
    spells_out,
    unknown_terms,
)
from rag.lexical import LexicalIndex, word_forms


def _cand(i: int, text: str, vec: list[float], source: str = "a.txt") -> Candidate:
    v = np.asarray(vec, dtype=np.float32)
    return Candidate(
        id=f"s{i}",
        source=source,
        title="T",
        date="2025-03-13",
        text=text,
        start=i * 100,
        end=i * 100 + len(text),
        index=i,
        vector=v / np.linalg.norm(v),
        passage=text,
        passage_score=1.0,
    )


def test_expected_types():
    assert expected_type("How many soldiers were interviewed?") == "number"
    assert expected_type("When did the war start?") == "date"
    assert expected_type("In which city did he speak?") == "place"
    assert expected_type("Who rejected the plan?") == "person"
    assert expected_type("What did the plan include?") is None
    # a leading "when" clause sets the scene; the question is what follows it
    assert expected_type("When many people are arrested, what tactic is common?") is None
    assert expected_type("When the war ended, who signed the treaty?") == "person"
    assert expected_type("When the war ended, which treaty followed?") is None
    assert expected_type("When, after the war, was the treaty signed?") == "date"


def test_how_many_needs_the_counted_thing():
    q = "How many Russian soldiers were killed?"
    assert not has_type("number", "The army captured 400 Ukrainian soldiers.", q)
    assert has_type("number", "Officials said 400 Russian soldiers were killed.", q)
    assert not has_type("number", "It was reported on March 3, 2025.", "How many votes were cast?")


def test_a_number_right_before_the_counted_head_noun_counts_it():
    q = "How many musical instruments were loaned to the museum?"
    assert has_type("number", "The museum has the loan of 35 instruments.", q)
    assert has_type(
        "number", "It is a single-step, 5-cylinder engine.", "How many cylinders does it have?"
    )
    assert has_type(
        "number",
        "None of the original treaties mention rights.",
        "How many original treaties mention rights?",
    )
    # a capitalised modifier restricts what is counted: other soldiers are not these
    q = "How many Russian soldiers were killed?"
    assert not has_type("number", "Witnesses saw 400 Ukrainian soldiers.", q)
    assert not has_type("number", "The report names eleven soldiers.", q)
    assert not has_type(
        "number", "The museum bought 35 paintings.", "How many instruments were loaned?"
    )


def test_dates_and_counts_in_their_usual_shapes():
    assert has_type("date", "Interest revived in the 1990s.", "When did interest revive?")
    assert has_type("date", "The ice retreated about 11,600 BP.", "When did the ice retreat?")
    assert has_type("date", "It was built in the 14th century.", "In what century was it built?")
    assert not has_type("date", "It was built by hand.", "When was it built?")
    assert has_type("number", "The club won the cup twice.", "How many times did the club win?")
    assert not has_type("number", "The club won the cup in 1946.", "How many times did it win?")
    assert has_type("number", "Estimates give 30–50 species.", "How many species are there?")


def test_unknown_names_signal():
    vocab = {"putin", "ceasefire", "russia"}
    names, share = unknown_terms(
        "What did Emmanuel Macron say about the ceasefire?", vocab.__contains__
    )
    assert "Macron" in " ".join(names)
    names, _ = unknown_terms("What did Putin say about the ceasefire?", vocab.__contains__)
    assert names == []


def test_possessive_acronyms_and_compounds_are_not_unknown_names():
    vocab = {"board", "church", "super", "bowl", "anthem"}
    names, _ = unknown_terms("When did the UMC's board meet?", vocab.__contains__)
    assert names == []  # an acronym may stand for words the documents spell out
    lex = LexicalIndex([], None, {w: 1 for w in vocab}, 1)
    names, _ = unknown_terms(
        "Who sang the anthem at Superbowl 50?", lex.knows, knows_name=lex.knows_roughly
    )
    assert names == []  # "Super Bowl" in the documents
    names, _ = unknown_terms("Who sang at Wembley?", lex.knows, knows_name=lex.knows_roughly)
    assert names == ["Wembley"]


def test_a_word_near_in_meaning_counts_toward_coverage_at_its_similarity():
    unit = {
        "troop": [1.0, 0.0, 0.0],
        "soldier": [0.8, 0.6, 0.0],  # cosine 0.8 with "troop"
        "weather": [0.0, 0.0, 1.0],
        "sent": [0.0, 1.0, 0.0],
    }
    vecs = {t: np.asarray(v, dtype=np.float32) for t, v in unit.items()}
    q = "Were troops sent?"
    cands = [
        _cand(0, "Soldiers were sent.", [1, 0, 0]),
        _cand(1, "The weather was sent.", [1, 0, 0]),
    ]
    plain = {
        s.cand.id: s.coverage
        for s in score_candidates(q, np.array([1.0, 0, 0]), cands, lambda t: 1.0)
    }
    near = {
        s.cand.id: s.coverage
        for s in score_candidates(q, np.array([1.0, 0, 0]), cands, lambda t: 1.0, word_vec=vecs.get)
    }
    assert plain == {"s0": 0.5, "s1": 0.5}  # "sent" only
    assert abs(near["s0"] - (1 + 0.8) / 2) < 1e-6  # "soldiers" stands in for "troops" at 0.8
    assert near["s1"] == 0.5  # "weather" is not near "troops"
    assert near_words(["troop"], {"a": {"soldier"}}, vecs.get, 0.9) == {}  # under the threshold


def test_word_forms_keep_each_tokens_most_common_spelling():
    forms = word_forms(["The forces moved. Forces rested; a force stayed.", "The rejected plan"])
    assert forms["forc"] == "forces" and forms["force"] == "force"
    assert forms["reject"] == "rejected" and "the" not in forms


def test_a_why_question_prefers_a_sentence_that_gives_a_reason():
    q = "Why did the council close the bridge?"
    assert gives_reason(q, "The council closed it because the cables had rusted.")
    assert gives_reason(q, "It acted, fearing a collapse.")
    assert not gives_reason(q, "The council closed the bridge on Monday.")
    assert not gives_reason("When did the council close it?", "It closed because of rust.")
    cands = [
        _cand(0, "The council closed the bridge on Monday.", [1, 0.1, 0]),
        _cand(1, "The council closed the bridge because its cables had rusted.", [1, 0.1, 0]),
    ]
    ranked = score_candidates(q, np.array([1.0, 0, 0]), cands, lambda t: 1.0)
    assert ranked[0].cand.id == "s1"


def test_questions_about_who_wrote_a_document():
    for q in [
        "Who wrote the article headlined 'Bridge reopens'?",
        "Who authored this report on ferries?",
        "Who is the author of the story about the mayor?",
        "Which article was written by whom?",
    ]:
        assert asks_author(q), q
    for q in ["Who wrote the letter to the mayor?", "Who reported the fire?", "Who said it?"]:
        assert not asks_author(q), q


def test_values_and_words_for_words_are_asked_without_the_word():
    assert asked_attribute("What is the population of Springfield?") == "population"
    assert asked_attribute("What is the percentage of households with children?") is None
    assert asked_attribute("What is a synonym for chloroplast DNA?") is None


def test_decide_picks_covering_sentence_and_abstains_when_unrelated():
    cands = [
        _cand(0, "The weather was mild in spring.", [0, 1, 0]),
        _cand(1, "Ushakov rejected the truce proposal firmly.", [1, 0.2, 0]),
    ]
    vocab = {"ushakov", "reject", "truce", "proposal", "firmly", "weather", "mild", "spring"}
    q = "Who rejected the truce proposal?"
    d = decide(
        q, np.asarray([1, 0.1, 0], dtype=np.float32), cands, lambda t: 1.0, vocab.__contains__
    )
    assert d.reason is None and d.chosen[0].cand.id == "s1"
    q2 = "What is the recipe for lasagna?"
    d2 = decide(
        q2, np.asarray([0, 0, 1], dtype=np.float32), cands, lambda t: 1.0, vocab.__contains__
    )
    assert d2.reason is not None


def test_a_when_question_needs_a_date_of_what_it_asks_about():
    vocab = {
        "council",
        "opened",
        "bridge",
        "harbour",
        "reopened",
        "villages",
        "recaptured",
        "wednesday",
    }
    qv = np.asarray([1, 0.2, 0], dtype=np.float32)
    q = "When did the council open the new harbour bridge?"
    dated_other = [_cand(0, "The villages were recaptured on Wednesday.", [1, 0.3, 0])]
    d = decide(q, qv, dated_other, lambda t: 1.0, vocab.__contains__)
    assert d.reason == "no sentence dates what the question asks about"
    dated_same = [_cand(0, "The council opened the harbour bridge on Wednesday.", [1, 0.3, 0])]
    assert decide(q, qv, dated_same, lambda t: 1.0, vocab.__contains__).reason is None


def test_a_sentence_restating_the_question_answers_it_without_the_asked_kind():
    """ "Where ...?" answered by a common noun ("in committee"), not a place name: a sentence
    that says the whole question and more answers it; one that says only part abstains."""
    vocab = {"work", "assembly", "done", "committee", "member", "meet", "weekly", "much"}
    q = "Where is much of the work of the Assembly done?"
    qv = np.asarray([1, 0.1, 0], dtype=np.float32)
    full = [_cand(0, "Much of the work of the Assembly is done in committee.", [1, 0.2, 0])]
    d = decide(q, qv, full, lambda t: 1.0, vocab.__contains__)
    assert d.reason is None and d.chosen[0].cand.id == "s0"
    part = [_cand(0, "The Assembly members meet in committee weekly.", [1, 0.2, 0])]
    assert decide(q, qv, part, lambda t: 1.0, vocab.__contains__).reason is not None
    # the question said back with nothing more does not answer it
    echo = [_cand(0, "Much of the work of the Assembly is done.", [1, 0.2, 0])]
    assert decide(q, qv, echo, lambda t: 1.0, vocab.__contains__).reason is not None


def test_a_name_no_retrieved_passage_mentions_abstains():
    """The corpus knows "Ghent" (elsewhere), but the passages found are about Bruges: the
    question is about something they do not cover. A near form ("Flemish" / "Flemings")
    counts as mentioned."""
    vocab = {"ghent", "bruge", "market", "open", "first", "indoor", "flemish", "flemings"}
    q = "When did Ghent's first indoor market open?"
    qv = np.asarray([1, 0.1, 0], dtype=np.float32)
    bruges = [_cand(0, "The first indoor market in Bruges opened in 1835.", [1, 0.2, 0])]
    d = decide(q, qv, bruges, lambda t: 1.0, vocab.__contains__)
    assert d.reason == "no passage found mentions Ghent"
    ghent = [_cand(0, "The first indoor market in Ghent opened in 1835.", [1, 0.2, 0])]
    assert decide(q, qv, ghent, lambda t: 1.0, vocab.__contains__).reason is None
    q2 = "When did the Flemish market open?"
    flemings = [_cand(0, "The Flemings opened the first indoor market in 1835.", [1, 0.2, 0])]
    assert decide(q2, qv, flemings, lambda t: 1.0, vocab.__contains__).reason is None


def test_an_acronym_no_retrieved_passage_has_or_spells_out_abstains():
    q = "Who designed the BBC's new logo?"
    qv = np.asarray([1, 0.1, 0], dtype=np.float32)
    vocab = {"design", "logo", "new", "studio", "bbc", "british", "broadcasting", "corporation"}

    def reason(text: str) -> str | None:
        cands = [_cand(0, text, [1, 0.2, 0])]
        return decide(q, qv, cands, lambda t: 1.0, vocab.__contains__).reason

    assert reason("The new logo was designed by Lambie-Nairn.") == "no passage found mentions BBC"
    assert reason("The BBC's new logo was designed by Lambie-Nairn.") is None
    spelt = "The British Broadcasting Corporation's new logo was designed by Lambie-Nairn."
    assert reason(spelt) is None
    assert spells_out("BBC", spelt) and not spells_out("BBC", "the British broadcasting sector")
    # a Roman numeral is not an acronym
    assert names_not_retrieved("Who succeeded Henry III?", [], vocab.__contains__) == []


def test_shared_words_with_unrelated_meaning_abstain():
    """Every question word in the sentence, but a meaning far from the question's (cosine
    0.1, under the 0.2 floor): abstain; the same words with a related meaning answer."""
    vocab = {"bridge", "river", "built", "council"}
    q = "What bridge was built across the river?"
    qvec = np.asarray([1, 0, 0], dtype=np.float32)
    far = [_cand(0, "The council built a bridge across the river of time.", [0.1, 1, 0])]
    near = [_cand(0, "The council built a bridge across the river of time.", [0.5, 1, 0])]
    d = decide(q, qvec, far, lambda t: 1.0, vocab.__contains__)
    assert d.chosen == [] and d.reason == "no passage is about the question"
    assert float(far[0].vector @ qvec) < 0.2
    assert decide(q, qvec, near, lambda t: 1.0, vocab.__contains__).reason is None


def test_the_sentence_before_lends_its_subject():
    # "She was 39 ..." answers a question about the mayor only through the sentence before it
    q = "How old was Mayor Lindqvist when she took office?"
    qvec = np.asarray([1, 0, 0], dtype=np.float32)
    answer = "She was 39 when she took office."
    after_subject = [
        _cand(0, "Mayor Lindqvist opened the new bridge.", [1, 1, 0]),
        _cand(1, answer, [1, 0.5, 0]),
    ]
    after_other = [
        _cand(0, "The weather was mild in spring.", [1, 1, 0]),
        _cand(1, answer, [1, 0.5, 0]),
    ]

    def score(cands: list[Candidate]) -> float:
        ranked = score_candidates(q, qvec, cands, lambda t: 1.0)
        return next(s.score for s in ranked if s.cand.text == answer)

    assert score(after_subject) > score(after_other)


def test_the_answering_quote_comes_first_and_its_he_said_neighbour_follows_as_context():
    prev = _cand(0, "Rubio spoke to reporters on Wednesday.", [1, 0, 0])
    quote = _cand(1, '"There is no military solution," he said.', [1, 0, 0])
    quote = replace(quote, passage=f"{prev.text} {quote.text}")  # the passage holding both
    d = decide(
        "What did Rubio say about a military solution?",
        np.asarray([1, 0, 0], dtype=np.float32),
        [quote],
        lambda t: 1.0,
        lambda t: True,
    )
    a = build_answer("q", d.chosen, lambda c, k: prev if (c.index, k) == (1, -1) else None, None)
    # the sentence that answers is read first; the one naming its speaker comes after it
    assert a.answer == f"{quote.text} [1] {prev.text} [2]"
    assert [c.quote for c in a.citations] == [quote.text, prev.text]
    assert [c.role for c in a.citations] == ["answer", "context"]
    assert needs_previous(quote.text) and not needs_previous(prev.text)


def test_a_sentence_that_reads_alone_brings_no_context():
    prev = _cand(0, "Rubio spoke to reporters on Wednesday.", [1, 0, 0])
    quote = _cand(1, "Rubio said there is no military solution.", [1, 0, 0])
    d = decide(
        "What did Rubio say about a military solution?",
        np.asarray([1, 0, 0], dtype=np.float32),
        [quote],
        lambda t: 1.0,
        lambda t: True,
    )
    a = build_answer("q", d.chosen, lambda c, k: prev if (c.index, k) == (1, -1) else None, None)
    assert [c.role for c in a.citations] == ["answer"]


def test_abstention_lists_closest_passages():
    c = _cand(0, "Something loosely related.", [1, 0, 0])
    d = decide(
        "Where is Atlantis?",
        np.asarray([0, 1, 0], dtype=np.float32),
        [c],
        lambda t: 1.0,
        lambda t: False,
    )
    a = build_answer("Where is Atlantis?", d.chosen, lambda c, k: None, d.reason, closest=d.ranked)
    assert a.abstained and a.citations and "do not answer" in a.answer
    # the reason is part of the answer, and the closest sentences are not cited as answers
    assert a.abstain_reason == d.reason and a.to_dict()["abstain_reason"] == d.reason
    assert {c.role for c in a.citations} == {"closest"}


def test_a_when_question_takes_an_event_as_well_as_a_date():
    from rag.answer import has_type

    q = "When does the river flood?"
    assert has_type("date", "The river floods when the snow melts in the hills.", q)
    assert has_type("date", "At the end of the dry season the river floods.", q)
    assert has_type("date", "The river flooded on 3 March 1998.", q)
    assert not has_type("date", "The river floods and the fields turn brown.", q)
