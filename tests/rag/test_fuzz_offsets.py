"""Property tests: for any text, every sentence's and chunk's offsets point at its own words
in the original file (the cleaner's own spans are fuzzed in tests/rag/test_clean.py)."""

from __future__ import annotations

import re
from bisect import bisect_right

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from rag.chunk import chunk_document
from rag.clean import clean
from rag.embed import model_dir
from rag.segment import split_sentences
from rag.types import Document

MODEL_DIR = str(model_dir())
FUZZ = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ordinary words and the punctuation news text is made of; none of them is boilerplate the
# cleaner drops, so the original range of a sentence holds exactly the sentence's words
WORDS = st.sampled_from(
    "the council met on Monday and voted 12 to 3 for a new bridge over river Ode . , ; : ? ! "
    "Dr. Mr. U.S. 4.5% $30 million \u201cquoted\u201d (aside) K\u00f6ln \u041a\u0438\u0457\u0432 "
    "\u5317\u4eac \u0645\u0631\u062d\u0628\u0627 e.g. 3.14 \u2014 it's".split()
)
SPACE = st.sampled_from([" ", " ", " ", "  ", "\t", "\n", "\n\n", " \n", "\u00a0"])


@st.composite
def prose(draw: st.DrawFn) -> str:
    n = draw(st.integers(1, 160))
    parts = [draw(WORDS) + draw(SPACE) for _ in range(n)]
    return "".join(parts)


ANY_TEXT = st.text(alphabet=st.characters(codec="utf-8"), max_size=600)  # no lone surrogates


def _document(original: str) -> Document | None:
    c = clean(original)
    if not c.text.strip():
        return None
    return Document(source="f.txt", original=original, text=c.text, spans=c.spans, title="t")


def _original_positions(doc: Document, cs: int, ce: int) -> list[int]:
    """Where each cleaned character in [cs, ce) stands in the original file."""
    starts = [sp.clean_start for sp in doc.spans]
    out = []
    for i in range(cs, ce):
        sp = doc.spans[bisect_right(starts, i) - 1]
        assert sp.clean_start <= i < sp.clean_start + sp.length, f"cleaned char {i} has no span"
        out.append(sp.orig_start + i - sp.clean_start)
    return out


def _check(doc: Document, text: str, cs: int, ce: int, start: int, end: int) -> None:
    assert doc.text[cs:ce] == text and text.strip() == text and text
    assert 0 <= start < end <= len(doc.original)
    # every character of the piece is the same character of the original, inside its range
    pos = _original_positions(doc, cs, ce)
    assert all(start <= p < end for p in pos)
    # (or, for a line break that only wraps a sentence, the space the cleaner reads it as)
    assert all(
        doc.original[p] == ch or (ch == " " and doc.original[p] == "\n")
        for p, ch in zip(pos, text, strict=True)
    )
    # and the range starts and ends at the piece's own first and last characters
    assert pos[0] == start and pos[-1] == end - 1


def _pieces(doc: Document, size: int, overlap: int):  # type: ignore[no-untyped-def]
    yield from split_sentences(doc)
    yield from chunk_document(doc, MODEL_DIR, size, overlap)


@FUZZ
@given(ANY_TEXT)
def test_any_text_offsets_point_at_the_same_characters(original):
    doc = _document(original)
    if doc is None:
        return
    for p in _pieces(doc, 16, 4):
        _check(doc, p.text, p.clean_start, p.clean_end, p.start, p.end)


@FUZZ
@given(prose(), st.sampled_from([(16, 0), (16, 8), (40, 10), (200, 40)]))
@example(". ", (16, 0))  # punctuation alone: found by a clean-clone run
# lines that read as hard-wrapped: their breaks become spaces (found by a clean-clone run)
@example(
    "the\nthe\nthe the the the the the council\nthe the the the council council ", (16, 0)
)
def test_prose_offsets_hold_the_same_words(original, shape):
    doc = _document(original)
    if doc is None:
        return
    size, overlap = shape
    sentences = split_sentences(doc)
    chunks = chunk_document(doc, MODEL_DIR, size, overlap)
    # a text of punctuation alone has no sentence to quote (split_sentences drops wordless
    # fragments), but it is still chunked
    assert chunks and (sentences or not any(ch.isalnum() for ch in doc.text))
    for p in [*sentences, *chunks]:
        _check(doc, p.text, p.clean_start, p.clean_end, p.start, p.end)
        # nothing was dropped from this text, so the original range holds the same words
        assert " ".join(doc.original[p.start : p.end].split()) == " ".join(p.text.split())
    # chunks cover every word of the cleaned text, in order
    covered = set()
    for c in chunks:
        covered.update(range(c.clean_start, c.clean_end))
    for m in re.finditer(r"\S+", doc.text):
        assert m.start() in covered, f"word {m.group(0)!r} at {m.start()} is in no chunk"
    # sentences are in order and do not overlap
    for a, b in zip(sentences, sentences[1:], strict=False):
        assert a.end <= b.start and a.index + 1 == b.index
