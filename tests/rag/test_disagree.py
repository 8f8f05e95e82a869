"""The "sources differ" flag, on hand-made answers: names, spellings, numbers, years, a post
held before, another body's post, and the grouping it gives."""

from __future__ import annotations

from rag.disagree import asked_kind, flag_disagreement
from rag.types import Answer, Citation


def _answer(question: str, *quotes: tuple[str, str | None, str], abstained: bool = False) -> Answer:
    cits = tuple(
        Citation(n, src, f"Title {src}", date, 0, len(q), q, q, 1.0)
        for n, (src, date, q) in enumerate(quotes, start=1)
    )
    return Answer(question, " ".join(f"{c.quote} [{c.n}]" for c in cits), abstained, cits)


def test_different_people_in_the_same_post_are_flagged_newest_first_undated_last():
    a = _answer(
        "Who chairs the harbour board?",
        ("old.txt", "2021-04-01", "Harbour board chair Ann Lee opened the new quay."),
        ("none.txt", None, "The harbour board chair, Cy Roe, wants a second crane."),
        ("new.txt", "2024-09-30", "Bo Chen, the harbour board chair, signed the lease."),
    )
    f = flag_disagreement(a)
    d = f.disagreement
    assert d is not None and d.kind == "person"
    assert [g.source for g in d.groups] == ["new.txt", "old.txt", "none.txt"]
    assert [g.values for g in d.groups] == [("Bo Chen",), ("Ann Lee",), ("Cy Roe",)]
    assert d.notice == (
        "The sources differ: [1] (2024-09-30) gives Bo Chen; [2] (2021-04-01) gives Ann Lee; "
        "[3] (undated) gives Cy Roe."
    )
    # the quotes are renumbered in the new order and the answer text follows them
    assert [c.source for c in f.citations] == ["new.txt", "old.txt", "none.txt"]
    assert f.answer.startswith("Bo Chen, the harbour board chair") and f.answer.endswith("[3]")
    assert f.to_dict()["disagreement"]["groups"][0]["citations"] == [1]


def test_agreeing_sources_and_spellings_of_one_name_are_not_flagged():
    a = _answer(
        "Who is the mayor of Velmora?",
        ("a.txt", "2025-01-01", "Velmora mayor Olena Kovalenko opened the bridge."),
        ("b.txt", "2024-01-01", "Mayor Olena Kowalenko of Velmora spoke first."),
    )
    assert flag_disagreement(a) is a


def test_a_name_under_another_bodys_title_is_not_a_rival_answer():
    a = _answer(
        "Who is the Velmora mayor?",
        ("a.txt", "2025-01-01", "Velmora mayor Olena Kovalenko opened the bridge."),
        ("b.txt", "2024-01-01", "Dunmore mayor Piet Sands praised the Velmora bridge."),
    )
    assert flag_disagreement(a).disagreement is None


def test_a_former_holder_is_not_the_same_answer():
    a = _answer(
        "Who is the club president?",
        ("a.txt", "2025-01-01", "Club president Ada Brennock opened the season."),
        ("b.txt", "2025-02-01", "Former club president Ada Brennock criticised the season."),
    )
    d = flag_disagreement(a).disagreement
    assert d is not None and d.groups[0].values == ("Ada Brennock (former)",)


def test_numbers_and_years():
    differ = _answer(
        "How many berths does the harbour have?",
        ("a.txt", "2025-01-01", "The harbour has 12 berths."),
        ("b.txt", "2023-01-01", "The harbour has nine berths."),
    )
    assert flag_disagreement(differ).disagreement.kind == "number"
    agree = _answer(
        "How many berths does the harbour have?",
        ("a.txt", "2025-01-01", "The harbour has 12 berths."),
        ("b.txt", "2023-01-01", "Its twelve berths make the harbour the largest."),
    )
    assert flag_disagreement(agree).disagreement is None
    years = _answer(
        "When was the lighthouse rebuilt?",
        ("a.txt", None, "The lighthouse was rebuilt in 1911 after a storm."),
        ("b.txt", None, "The lighthouse was rebuilt in 1921, a plaque says."),
    )
    d = flag_disagreement(years).disagreement
    assert d is not None and d.kind == "date" and [g.values for g in d.groups] == [("1911",), ("1921",)]


def test_nothing_to_compare_is_not_flagged():
    one_source = _answer(
        "Who chairs the board?",
        ("a.txt", None, "Board chair Ann Lee spoke."),
        ("a.txt", None, "Board chair Bo Chen spoke later."),
    )
    assert flag_disagreement(one_source) is one_source
    not_a_value = _answer(
        "Why did the board meet?",
        ("a.txt", None, "Board chair Ann Lee called it."),
        ("b.txt", None, "Board chair Bo Chen called it."),
    )
    assert flag_disagreement(not_a_value) is not_a_value
    abstained = _answer(
        "Who chairs the board?",
        ("a.txt", None, "Board chair Ann Lee spoke."),
        ("b.txt", None, "Board chair Bo Chen spoke."),
        abstained=True,
    )
    assert flag_disagreement(abstained) is abstained
    # a name far from the question's words answers something else
    apart = _answer(
        "Who chairs the board?",
        ("a.txt", None, "Board chair Ann Lee spoke."),
        ("b.txt", None, "The board met in spring, and afterwards the weather turned and Bo Chen went home."),
    )
    assert flag_disagreement(apart).disagreement is None


def test_asked_kind():
    assert asked_kind("Which minister signed it?") == "person"
    assert asked_kind("When did it open?") == "date"
    assert asked_kind("Why did it close?") is None
