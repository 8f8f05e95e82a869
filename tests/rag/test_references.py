"""References: CSL-JSON items, styles rendered by citeproc-py, and the BibTeX, RIS and CSL-JSON
files read back with the parsers reference managers' formats have (bibtexparser, rispy)."""

from __future__ import annotations

import json

import pytest

from rag.errors import InputError
from rag.references import (
    authors,
    csl_items,
    formatted_references,
    locator,
    person,
    to_bibtex,
    to_csl_json,
    to_ris,
)
from rag.types import Answer, Citation


def _cite(n: int, source: str, quote: str, **kw) -> Citation:
    base = dict(title="Harbour works {phase} & 100% done", date="2025-03-13", start=10 * n,
                end=10 * n + len(quote), passage=quote, score=1.0)
    return Citation(n, source, quote=quote, **{**base, **kw})


ANSWER = Answer(
    "What happened at the harbour?",
    "x",
    False,
    (
        _cite(1, "a.pdf", "The quay was finished.", author="Ann Lee and Bo Chen",
              site="The Coast Courier", url="https://courier.example.com/a", page=2),
        _cite(2, "a.pdf", "Storms delayed it.", author="Ann Lee and Bo Chen",
              site="The Coast Courier", url="https://courier.example.com/a", page=3, page_end=4),
        _cite(3, "b.txt", "Traffic rose “a lot”.", title="Traffic note", date=None,
              author="Desk Staff", site=None),
        _cite(4, "c.txt", "It rained.", title="Weather", date="2024-06-15", author=None),
    ),
)


def test_names_are_people_or_bodies():
    assert person("Paul Dragu") == {"family": "Dragu", "given": "Paul"}
    assert person("Desk Staff") == {"literal": "Desk Staff"}
    assert person("Reuters") == {"literal": "Reuters"}
    assert authors("Ann Lee and Bo Chen") == [
        {"family": "Lee", "given": "Ann"}, {"family": "Chen", "given": "Bo"},
    ]
    assert authors("Lee, Ann") == [{"family": "Lee", "given": "Ann"}]
    assert authors(None) == []


def test_locator_is_the_page_or_the_character_range():
    c1, c2, c3, _ = ANSWER.citations
    assert locator(c1) == "p. 2" and locator(c2) == "pp. 3–4"
    assert locator(c3) == f"characters {c3.start}–{c3.end}"


def test_one_item_per_document_with_every_quote_in_its_note():
    items = csl_items([ANSWER])
    assert [i["type"] for i in items] == ["article-newspaper", "document", "document"]
    a = items[0]
    assert a["container-title"] == "The Coast Courier" and a["URL"].endswith("/a")
    assert a["issued"] == {"date-parts": [[2025, 3, 13]]}
    assert "“The quay was finished.” (p. 2; a.pdf)" in a["note"]
    assert "(pp. 3–4; a.pdf)" in a["note"]
    assert "issued" not in items[1]  # undated stays undated
    assert "author" not in items[2]  # no author is made up
    assert len({i["id"] for i in items}) == 3
    # an abstention's closest passages are not sources
    assert csl_items([Answer("q", "no", True, ANSWER.citations)]) == []


def test_csl_json_round_trips():
    assert json.loads(to_csl_json([ANSWER])) == csl_items([ANSWER])


def test_bibtex_round_trips_every_field():
    import bibtexparser

    items = {i["id"]: i for i in csl_items([ANSWER])}
    lib = bibtexparser.parse_string(to_bibtex([ANSWER]))
    assert not lib.failed_blocks
    assert {e.key for e in lib.entries} == set(items)
    unescape = lambda v: v.replace("\\{", "{").replace("\\}", "}")  # noqa: E731
    for e in lib.entries:
        item = items[e.key]
        f = {k: v for k, v in e.fields_dict.items()}
        assert e.entry_type == ("article" if item["type"] == "article-newspaper" else "misc")
        assert unescape(f.pop("title").value) == item["title"]
        assert unescape(f.pop("note").value) == item["note"]
        if "author" in item:
            names = f.pop("author").value.split(" and ")
            assert names == [
                f"{n['family']}, {n['given']}" if "family" in n else "{" + n["literal"] + "}"
                for n in item["author"]
            ]
        if "container-title" in item:
            assert f.pop("journal").value == item["container-title"]
        if "issued" in item:
            y, m, d = item["issued"]["date-parts"][0]
            assert f.pop("year").value == str(y)
            assert f.pop("date").value == f"{y}-{m:02d}-{d:02d}"
        if "URL" in item:
            assert f.pop("url").value == item["URL"]
        assert not f, f"fields written but not checked: {sorted(f)}"


def test_ris_round_trips_every_field():
    import rispy

    items = csl_items([ANSWER])
    text = to_ris([ANSWER])
    assert text.startswith("TY  - NEWS")  # no "1." counter line before a record
    records = rispy.loads(text)
    assert len(records) == len(items)
    for rec, item in zip(records, items, strict=True):
        rec = dict(rec)
        assert rec.pop("type_of_reference") == (
            "NEWS" if item["type"] == "article-newspaper" else "GEN"
        )
        assert rec.pop("id") == item["id"]
        assert rec.pop("title") == item["title"]
        assert rec.pop("notes") == item["note"].split("\n")
        if "author" in item:
            assert rec.pop("authors") == [
                f"{n['family']}, {n['given']}" if "family" in n else n["literal"]
                for n in item["author"]
            ]
        if "container-title" in item:
            assert rec.pop("secondary_title") == item["container-title"]
        if "issued" in item:
            y, m, d = item["issued"]["date-parts"][0]
            assert rec.pop("year") == str(y)
            assert rec.pop("date") == f"{y}/{m:02d}/{d:02d}"
        if "URL" in item:
            assert rec.pop("urls") == [item["URL"]]
        assert not rec, f"fields written but not checked: {sorted(rec)}"


@pytest.mark.parametrize("style", ["apa", "chicago", "mla", "harvard", "ieee"])
def test_styles_render_author_outlet_date_title_and_locator(style):
    refs = formatted_references(ANSWER, style)
    assert [r.n for r in refs] == [1, 2, 3, 4]
    first, second, undated, anonymous = refs
    assert "Lee" in first.entry and "Coast Courier" in first.entry and "2025" in first.entry
    assert "Harbour" in first.entry
    assert "2" in first.in_text and "3–4" in second.in_text
    assert f"characters {ANSWER.citations[2].start}" in undated.in_text
    assert "Weather" in anonymous.entry
    # citeproc-py follows CSL's substitution rule: a title standing in for the author once
    assert anonymous.entry.count("Weather") == 1
    assert "Edition" not in first.entry  # a label without its variable is not printed


def test_apa_reference_reads_as_apa():
    refs = formatted_references(ANSWER, "apa")
    assert refs[0].entry.startswith("Lee, A., & Chen, B. (2025, March 13).")
    assert refs[0].in_text == "(Lee & Chen, 2025, p. 2)"


def test_unknown_style_is_a_message_with_the_choices():
    with pytest.raises(InputError, match="unknown citation style 'vogue'.*apa, chicago, mla"):
        formatted_references(ANSWER, "vogue")
