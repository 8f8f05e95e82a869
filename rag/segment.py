"""Sentences with offsets, from a real segmenter that keeps "U.S." and "Mr." whole."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from rag.clean import is_heading_line
from rag.types import Document, Sentence

_PARA_RE = re.compile(r"[^\n]+")


@lru_cache(maxsize=1)
def _segmenter() -> Any:
    import pysbd

    return pysbd.Segmenter(language="en", clean=False, char_span=True)


def split_sentences(doc: Document) -> list[Sentence]:
    """Every sentence of the cleaned text, trimmed, each mapped to the original file.

    Paragraphs (lines of the cleaned text) are segmented one by one, so no sentence
    crosses a paragraph break; a heading line counts as one sentence marked ``is_heading``.
    """
    out: list[Sentence] = []
    seg = _segmenter()
    for para in _PARA_RE.finditer(doc.text):
        ptext = para.group(0)
        heading = is_heading_line(ptext)
        spans = [(0, len(ptext))] if heading else [(s.start, s.end) for s in seg.segment(ptext)]
        for a, b in spans:
            raw = ptext[a:b]
            lead = len(raw) - len(raw.lstrip())
            trail = len(raw) - len(raw.rstrip())
            cs, ce = para.start() + a + lead, para.start() + b - trail
            if ce <= cs:
                continue
            start, end = doc.to_original(cs, ce)
            out.append(
                Sentence(
                    source=doc.source,
                    text=doc.text[cs:ce],
                    clean_start=cs,
                    clean_end=ce,
                    start=start,
                    end=end,
                    index=len(out),
                    is_heading=heading,
                )
            )
    return out
