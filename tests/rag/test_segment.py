"""The segmenter's faster span finder and abbreviation pass give exactly pysbd's own spans."""

from __future__ import annotations

import re

import pysbd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rag.segment import _segmenter, sentence_spans, with_references
from tests.conftest import CORPUS

TRICKY = [
    "Mr. Smith went to Washington. He met Dr. Jones at 3 p.m. on Jan. 5. They talked.",
    "The U.S. said no. The U.S. said no. The U.S. said no.",  # the same sentence three times
    "\u201cWe will not.\u201d  He said it twice.\t\u201cWe will not.\u201d",
    "Prices rose 4.5% in Q1... Then fell!? Nobody knows (really).",
    "No end punctuation here",
    "a. b. c. d. e.",
    "U.S. . . .",  # ". ." at 3, 5 and 7: pysbd's non-overlapping scan takes 7, not 5
    "Accuracy rose (cf. Table 2). Results are in Eq. (5) and Vol. II. It cost approx. 5 euros.",
]


def _pysbd() -> pysbd.Segmenter:
    """pysbd's own segmenter and abbreviation pass, with the abbreviations ours adds."""
    from pysbd.lang.english import English

    class WithReferences(English):  # type: ignore[misc,valid-type]
        Abbreviation = with_references(English.Abbreviation)

    seg = pysbd.Segmenter(language="en", clean=False, char_span=True)
    seg.language_module = WithReferences
    return seg


def _paragraphs() -> list[str]:
    out = []
    for f in sorted(CORPUS.iterdir()):
        out += re.findall(r"[^\n]+", f.read_text(encoding="utf-8"))
    return out + TRICKY


def _spans(seg: pysbd.Segmenter, text: str) -> list[tuple[int, int, str]]:
    return [(s.start, s.end, s.sent) for s in seg.segment(text)]


@pytest.mark.parametrize("chunk", range(4))
def test_spans_equal_pysbds_on_the_corpus(chunk):
    ours, theirs = _segmenter(), _pysbd()
    paras = _paragraphs()[chunk::4]
    assert paras
    for p in paras:
        assert _spans(ours, p) == _spans(theirs, p), p


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(
    "He said no . U.S. Mr. Smith 3.5 ! ? \u201cYes.\u201d ... (aside) e.g. the the a".split()
    # abbreviations with and without their period, in other words, in other cases
    + "No. no now. 5 St. st ST. Gen. gen Jan. Inc. ph.d u.s. us. uns. Ft. \u017ft. \u212ao.".split()
    + "cf. Cf. eq. Eq. (5) vol. Vol. II approx. resp. app.".split()
), min_size=1, max_size=60).map(" ".join))
def test_spans_equal_pysbds_on_any_mix(text):
    ours, theirs = _segmenter(), _pysbd()
    assert _spans(ours, text) == _spans(theirs, text)


def test_scholarly_references_do_not_end_a_sentence():
    text = (
        "We use BERT, cf. Table 2. The loss is given in Eq. (5) and Eqs. 6-7. See Vol. II "
        "of the report. It costs approx. 5 dollars. He wrote it in his app. Then he left."
    )
    assert [text[a:b] for a, b in sentence_spans(text)] == [
        "We use BERT, cf. Table 2.",
        "The loss is given in Eq. (5) and Eqs. 6-7.",
        "See Vol. II of the report.",
        "It costs approx. 5 dollars.",
        "He wrote it in his app.",  # "app." is not taken for an abbreviation
        "Then he left.",
    ]
    # stock pysbd splits them
    stock = pysbd.Segmenter(language="en", clean=False, char_span=True)
    assert len(stock.segment(text)) > 6


def test_a_fragment_with_no_word_is_no_sentence():
    from rag.clean import clean
    from rag.segment import split_sentences
    from rag.types import Document

    original = (
        "Council approves the bridge\n\n"
        "The council approved the plan [1](#ref). ). It starts in May.\n"
        "Costs were cut (see above). (). . .\n"
        "---\n"
    )
    c = clean(original)
    doc = Document("a.md", original, c.text, c.spans, "Council approves the bridge")
    texts = [s.text for s in split_sentences(doc)]
    assert texts == [
        "Council approves the bridge",
        "The council approved the plan 1.",
        "It starts in May.",
        "Costs were cut (see above).",
    ]
    assert [s.index for s in split_sentences(doc)] == [0, 1, 2, 3]
