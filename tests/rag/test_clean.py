"""Cleaning keeps provenance: every kept character maps back to the same character."""

from __future__ import annotations

import re
import textwrap

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rag.clean import (
    _BULLET_RE,
    _EMPH_RE,
    _HEADING_RE,
    _LINK_RE,
    _inline_fragments,
    clean,
    parse_date,
)
from rag.types import map_range
from tests.conftest import CORPUS


def _spans_hold(original: str) -> None:
    """Each kept character maps back to itself; a line break that only wraps a sentence of
    a hard-wrapped text reads as a space."""
    c = clean(original)
    for sp in c.spans:
        kept = c.text[sp.clean_start : sp.clean_start + sp.length]
        there = original[sp.orig_start : sp.orig_start + sp.length]
        assert len(kept) == len(there)
        assert all(a == b or (a == " " and b == "\n") for a, b in zip(kept, there, strict=True))


def test_promo_block_removed_article_kept():
    original = (CORPUS / "001_2d1fce554b13bff5.txt").read_text(encoding="utf-8")
    c = clean(original)
    assert "Subscribe" not in c.text
    assert "money back guarantee" not in c.text
    assert "Cancel anytime" not in c.text
    # the article's own last paragraph survives
    assert "The Wall Street Journal reported." in c.text
    assert "Putin rejected a proposal for an immediate ceasefire" in c.text
    _spans_hold(original)


def test_links_bylines_and_trailers():
    original = "Headline here\n\nWritten by [Ann Lee](#) on March 3, 2025\n\nShe [said](#) so.\n\n\n\nWritten by [Ann Lee](#) on March 3, 2025\nMore *text* here.\nComments\n"
    c = clean(original)
    assert c.text == "Headline here\nShe said so.\nMore text here."
    assert (c.author, c.date, c.title) == ("Ann Lee", "2025-03-03", "Headline here")
    _spans_hold(original)


def test_the_byline_keeps_its_place_in_the_original():
    original = "Title line here\n\nWritten by [Jane Roe](#) on March 3, 2025\n\nBody text.\n"
    c = clean(original)
    assert c.author == "Jane Roe" and c.byline is not None
    start, end, text = c.byline.start, c.byline.end, c.byline.text
    assert original[start:end] == "Written by [Jane Roe](#) on March 3, 2025"
    assert text == "Written by Jane Roe on March 3, 2025"
    assert "Written by" not in c.text  # still not part of the article's text
    assert clean("Just a headline\n\nNo byline in this one.\n").byline is None


def test_dates_in_news_forms():
    assert parse_date("March 13, 2025") == "2025-03-13"
    assert parse_date("08:56 PM, Mar 13, 2025") == "2025-03-13"
    assert parse_date("Moscow, June 15, 2024 — text") == "2024-06-15"
    assert parse_date("no date here") is None


def test_map_range_points_into_original():
    original = "Say [hello](#) world.\n"
    c = clean(original)
    start, end = map_range(c.spans, 0, len(c.text))
    assert original[start:end] == "Say [hello](#) world."


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=400))
def test_cleaning_never_invents_text(text):
    """For any text, cleaned characters are copies of original characters, in order."""
    _spans_hold(text)
    c = clean(text)
    assert sum(sp.length for sp in c.spans) == len(c.text)
    last = -1
    for sp in c.spans:
        assert sp.orig_start > last
        last = sp.orig_start + sp.length - 1


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                "[link](#)",
                "*em*",
                "Written by X on May 1, 2024",
                "- item",
                "# Head",
                "Plain words.",
                "",
                "Comments",
                "Subscribe now",
            ]
        ),
        max_size=20,
    )
)
def test_markup_mixes_keep_offsets(lines):
    _spans_hold("\n".join(lines))


def _fragments_char_by_char(line: str, base: int, markdown: bool = True) -> list[tuple[int, int]]:
    """The first version of ``_inline_fragments``: a keep flag per character (slow on long
    lines, plainly right), kept as the reference; with markup that would join two words kept."""
    groups: list[list[tuple[int, int]]] = []
    m = _HEADING_RE.match(line) or _BULLET_RE.match(line)
    if m:
        groups.append([(0, m.end())])
    for m in _LINK_RE.finditer(line):
        groups.append([(m.start(), m.start(1)), (m.end(1), m.end())])
    if markdown:
        for m in _EMPH_RE.finditer(line):
            n = len(m.group(1))
            groups.append([(m.start(), m.start() + n), (m.end() - n, m.end())])
    while True:
        keep = [True] * len(line)
        for g in groups:
            for a, b in g:
                keep[a:b] = [False] * max(b - a, 0)
        glued = []  # dropped runs with a letter or digit kept on each side
        i = 0
        while i < len(line):
            if keep[i]:
                i += 1
                continue
            j = i
            while j < len(line) and not keep[j]:
                j += 1
            if 0 < i and j < len(line) and line[i - 1].isalnum() and line[j].isalnum():
                glued.append((i, j))
            i = j
        if not glued:
            break
        groups = [g for g in groups if not any(i <= a and b <= j for a, b in g for i, j in glued)]
    idx = [i for i, k in enumerate(keep) if k and not line[i].isspace()]
    if not idx:
        return []
    frags, i, hi = [], idx[0], idx[-1] + 1
    while i < hi:
        if not keep[i]:
            i += 1
            continue
        j = i
        while j < hi and keep[j]:
            j += 1
        frags.append((base + i, base + j))
        i = j
    return frags


_MARKUP = st.lists(
    st.sampled_from(["# ", "## ", "- ", "* ", "1. ", "[", "]", "(", ")", "(#)", "*", "**", "_",
                     "__", " ", "  ", "\t", "\u00a0", "word", "U.S.", "x", "[]()", "",
                     "[word](#)", "*word*", "**a b**", "_x_", "![img](p.png)"]),
    max_size=25,
).map("".join)


@settings(max_examples=400, deadline=None)
@given(_MARKUP, st.integers(0, 50), st.booleans())
def test_inline_fragments_match_the_char_by_char_reference(line, base, markdown):
    assert _inline_fragments(line, base, markdown) == _fragments_char_by_char(line, base, markdown)


def test_inline_fragments_match_the_reference_on_every_corpus_line():
    for path in sorted(CORPUS.iterdir()):
        for line in path.read_text(encoding="utf-8").splitlines():
            assert _inline_fragments(line, 7) == _fragments_char_by_char(line, 7)


@pytest.mark.parametrize(
    ("text", "author", "site"),
    [
        ("Title here\nBy Ann Lee | The Daily Record, May 2, 2025\n\nBody text.\n", "Ann Lee", "The Daily Record"),
        ("Title here\nBy Ann Lee, Staff Writer\n\nBody text.\n", "Ann Lee", None),
        ("Title here\nWritten by Ann Lee on May 2, 2025\n\nBody text.\n", "Ann Lee", None),
        ("Title here\n- Harbour Post Staff\n\nBody text.\n", "Harbour Post Staff", "Harbour Post"),
        ("Title here\n- Desk Staff\n\nBody text.\n", "Desk Staff", None),
        ("Title\n\nBody one.\nBody two.\nBody three.\nSubscribe to the Coast Courier\n", None, "The Coast Courier"),
        ("Title\n\nBody one.\nSubscribe to our newsletter\n", None, None),
    ],
)
def test_the_outlet_comes_from_the_byline_or_a_subscription_line(text, author, site):
    c = clean(text)
    assert (c.author, c.site) == (author, site)


def test_lines_repeated_at_the_edges_of_pages_are_dropped_with_offsets_kept():
    pages = [
        "Harbour Review\nThe first page says the quay opened.\nIt rained all week.\nhttps://x.example/r 1/3",
        "Harbour Review\nBerths\nThe second page counts twelve berths.\nhttps://x.example/r 2/3",
        "Harbour Review\nThe third page closes the report.\nPage 3",
    ]
    original = "\n\f\n".join(pages)
    starts = (0, *(i + 1 for i, ch in enumerate(original) if ch == "\f"))
    c = clean(original, page_starts=starts)
    assert "Harbour Review" not in c.text and "example" not in c.text and "Page 3" not in c.text
    assert "twelve berths" in c.text and "Berths" in c.text
    at = c.text.index("The second page")
    a, b = map_range(c.spans, at, at + len("The second page counts twelve berths."))
    assert original[a:b] == "The second page counts twelve berths."
    # without pages nothing of the kind is dropped
    assert "Harbour Review" in clean(original).text


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text)


@pytest.mark.parametrize(
    "line",
    [
        "Very clean*maintainable*easy to extend.",  # emphasis inside a word
        "It is maintainable*easy to extend* and fast.",  # an opening star between two words
        "It is *easy*to extend.",  # a closing star between two words
        "See the report[1](#ref)and the notes.",  # a link between two words
        "A *b*[c](#)d e.",  # two cuts side by side, each alone harmless
    ],
)
def test_removing_markup_never_joins_two_words(line):
    original = f"Title here\n\n{line}\n"
    c = clean(original, markdown=True)
    body = c.text.split("\n")[1]
    # every word of the cleaned text is a word of the file: nothing glued
    assert set(_words(body)) <= set(_words(line)), body
    # and a quote of it finds its words, in order, in the range it cites
    start, end = map_range(c.spans, c.text.index(body), len(c.text))
    cited = original[start:end]
    assert _words(body) == [w for w in _words(cited) if w in set(_words(body))]


def test_emphasis_is_markdown_only():
    line = 'The review said it was *very* good, and "_fast_" too, per *The Wall Street Journal*.'
    md = clean(f"Title\n\n{line}\n", markdown=True).text.split("\n")[1]
    plain = clean(f"Title\n\n{line}\n", markdown=False).text.split("\n")[1]
    assert md == 'The review said it was very good, and "fast" too, per The Wall Street Journal.'
    assert plain == line  # a plain-text file's stars and underscores are its own
    # links are cut in both
    assert clean("T\n\nSee [this](#) now.\n", markdown=False).text.endswith("See this now.")


def test_the_loader_treats_only_markdown_files_as_markdown(tmp_path):
    from rag.load import load_document

    text = "A headline\n\nShe called it snake_case_style and *great*.\n"
    for name, expected in [
        ("a.txt", "She called it snake_case_style and *great*."),
        ("a.md", "She called it snake_case_style and great."),
        ("a.markdown", "She called it snake_case_style and great."),
    ]:
        (tmp_path / name).write_text(text, encoding="utf-8")
        assert load_document(tmp_path / name, name).text.endswith(expected), name


WRAPPED = [
    "Transformer models have become the dominant architecture for natural language processing, "
    "and their accuracy on reading comprehension benchmarks now exceeds that of human annotators "
    "in several settings. We fine-tune a small cross-encoder on question and sentence pairs drawn "
    "from new Wikipedia articles, Reddit posts and product reviews.",
    "The resulting model is calibrated on held-out data, and its threshold is chosen so that at "
    "most three percent of the answerable questions are refused. It reads three sentences per "
    "question in about twenty milliseconds on two cores.",
]


def test_a_hard_wrapped_text_joins_its_lines_into_sentences():
    from rag.segment import split_sentences
    from rag.types import Document

    original = "Methods\n\n" + "\n\n".join(textwrap.fill(p, 72) for p in WRAPPED) + "\n"
    assert original.count("\n") > 10  # wrapped at 72 columns
    c = clean(original)
    # each paragraph one line of the cleaned text, its wraps spaces; offsets still exact
    assert c.text.split("\n") == ["Methods", *WRAPPED]
    _spans_hold(original)
    assert sorted(c.headings) == [0]  # the heading stays one; no wrapped line is one
    doc = Document("paper.txt", original, c.text, c.spans, "Methods")
    sentences = split_sentences(doc)
    assert [s.text for s in sentences][1:3] == [
        "Transformer models have become the dominant architecture for natural language "
        "processing, and their accuracy on reading comprehension benchmarks now exceeds that "
        "of human annotators in several settings.",
        "We fine-tune a small cross-encoder on question and sentence pairs drawn from new "
        "Wikipedia articles, Reddit posts and product reviews.",
    ]
    assert [s.is_heading for s in sentences] == [True] + [False] * (len(sentences) - 1)
    s = sentences[1]  # its offsets span the original's line ends
    assert " ".join(original[s.start : s.end].split()) == s.text and "\n" in original[s.start : s.end]


def _joined(original: str) -> int:
    """Line breaks of ``original`` that cleaning read as spaces."""
    c = clean(original)
    return sum(
        c.text[sp.clean_start + k] == " " and original[sp.orig_start + k] == "\n"
        for sp in c.spans
        for k in range(sp.length)
    )


def test_lines_that_are_paragraphs_or_a_list_are_never_joined():
    for f in sorted(CORPUS.glob("*.txt")):  # news: one paragraph a line, headings between
        assert _joined(f.read_text(encoding="utf-8")) == 0, f.name
    listed = "Shopping\n\n" + "".join(f"- item {n} of the long shopping list\n" for n in range(8))
    assert _joined(listed) == 0
    assert _joined("Apples\nPears\nPlums\nGrapes\nCherries\nFigs\n") == 0
    assert _joined("\n\n".join(textwrap.fill(p, 72) for p in WRAPPED)) > 5


ENDS_AT_LINE = [
    "The survey put to every household the old question 'how ought we to live'",
    "at the level of the street, and most of those asked answered at some",
    "length in writing, many of them in a letter of several pages which the",
    "clerks of the council read through in the following winter and spring.",
    "Their report was printed for the council in the summer and sent to the",
    "members of every committee of the council that had asked for a copy of",
    "it, together with the tables of figures drawn from the letters.",
]


def test_without_blank_lines_a_line_ending_a_sentence_ends_its_paragraph():
    # a PDF's text layer parts paragraphs by no blank line: a line that ends a sentence may
    # end its paragraph, and it is kept so (a list of definitions, a heading after it)
    original = "\n".join(ENDS_AT_LINE) + "\n"
    lines = clean(original).text.split("\n")
    assert lines == [ENDS_AT_LINE[0], " ".join(ENDS_AT_LINE[1:4]), " ".join(ENDS_AT_LINE[4:])]
    _spans_hold(original)


def test_with_blank_lines_between_paragraphs_a_full_line_ending_a_sentence_goes_on():
    other = textwrap.fill(" ".join(WRAPPED), 72)
    original = "\n".join(ENDS_AT_LINE) + "\n\n" + other + "\n"
    lines = clean(original).text.split("\n")
    assert lines == [" ".join(ENDS_AT_LINE), " ".join(WRAPPED)]
    _spans_hold(original)


def test_a_markdown_heading_of_a_wrapped_text_stays_a_line_of_its_own():
    heading = "## Transformer models and the dominant architecture of the field"
    original = heading + "\n" + "\n\n".join(textwrap.fill(p, 72) for p in WRAPPED) + "\n"
    c = clean(original)
    assert c.text.split("\n") == [heading[3:], *WRAPPED]


def test_a_word_broken_at_a_wrap_is_whole_again_and_a_compound_keeps_its_hyphen():
    original = (
        "Transformer models have become the dominant archi-\n"
        "tecture for natural language processing, and their accu-\n"
        "racy on reading comprehension benchmarks now exceeds that\n"
        "of human annotators in several settings. We fine-tune a\n"
        "small cross-encoder on question and sentence pairs drawn\n"
        "from new Wikipedia articles, Reddit posts and well-\n"
        "known product reviews.\n"
    )
    c = clean(original)
    assert c.text == (
        "Transformer models have become the dominant architecture for natural language "
        "processing, and their accuracy on reading comprehension benchmarks now exceeds that "
        "of human annotators in several settings. We fine-tune a small cross-encoder on "
        "question and sentence pairs drawn from new Wikipedia articles, Reddit posts and "
        "well-known product reviews."
    )
    _spans_hold(original)
    start, end = map_range(c.spans, c.text.index("well-known"), c.text.index(" product"))
    assert original[start:end] == "well-\nknown"
    start, end = map_range(c.spans, c.text.index("architecture"), c.text.index(" for natural"))
    assert original[start:end] == "archi-\ntecture"


def test_a_soft_hyphen_at_a_line_end_always_goes():
    original = (
        "Transformer models have become the dominant kinds of compre\u00ad\n"
        "hension systems for reading documents, and their accu\u2010\n"
        "racy on reading comprehension benchmarks now exceeds that\n"
        "of human annotators in several settings, as reported.\n"
    )
    c = clean(original)
    assert "kinds of comprehension systems" in c.text and "their accuracy on" in c.text
    _spans_hold(original)
    assert "\u00ad" not in c.text and "\u2010" not in c.text


WRAPPED_PAIR = (
    "After a long winter of talks the two agencies agreed to co-\n"
    "operate on the survey of the river basin, and the report that\n"
    "followed said so in as many words. {} closely ever since,\n"
    "sharing their data and their boats on every later survey.\n"
)


@pytest.mark.parametrize(
    ("elsewhere", "read"), [("They cooperate", "cooperate"), ("They co-operate", "co-operate")]
)
def test_the_document_itself_says_whether_a_broken_word_keeps_its_hyphen(elsewhere, read):
    c = clean(WRAPPED_PAIR.format(elsewhere))
    assert f"agreed to {read} on the survey" in c.text
    _spans_hold(WRAPPED_PAIR.format(elsewhere))
