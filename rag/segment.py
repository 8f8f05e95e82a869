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

    class Segmenter(pysbd.Segmenter):  # type: ignore[misc]
        """pysbd's segmenter, finding each sentence's span with ``str.find`` instead of a
        regular expression compiled per sentence.

        pysbd 0.3.4 locates every sentence it splits off with ``re.finditer`` on the
        escaped sentence plus trailing whitespace: a new pattern per sentence, which also pushes pysbd's own rule
        patterns out of ``re``'s cache so they are compiled again and again. Compiling was
        1.4 s of 2.2 s on 100 bench stories. The spans are the same: the first of the
        sentence's non-overlapping occurrences that ends after the previous span, plus the
        whitespace after it (``tests/rag/test_segment.py`` compares the two on every paragraph
        of the corpus and on generated text).
        """

        def sentences_with_char_spans(self, sentences: list[str]) -> list[Any]:
            from pysbd.utils import TextSpan

            text, spans, prior = self.original_text, [], 0
            for sent in sentences:
                if not sent:
                    continue
                # pysbd takes the first of the sentence's non-overlapping occurrences (each with
                # the whitespace after it), scanning from the start, that ends past the previous
                # span; the occurrences are walked the same way here ("U.S. . . ." has ". ."
                # at 3, 5 and 7, and only 3 and 7 are non-overlapping)
                pos = 0
                while (at := text.find(sent, pos)) >= 0:
                    end = at + len(sent)
                    while end < len(text) and text[end].isspace():
                        end += 1
                    if end > prior:
                        spans.append(TextSpan(text[at:end], at, end))
                        prior = end
                        break
                    pos = end
                # a sentence it cannot find pysbd drops, and so does this
            return spans

    seg = Segmenter(language="en", clean=False, char_span=True)
    seg.language_module = _english()
    return seg


def _english() -> Any:
    """pysbd's English rules, with an abbreviation pass that skips what cannot match.

    For each of its 188 abbreviations pysbd runs a case-insensitive ``findall`` whenever the
    letters occur anywhere in the paragraph ("no" is in "now"), then a substitution that
    only ever changes an abbreviation followed by a period. That loop was 6.2 s of 13.2 s
    on 1,500 bench stories. Here an abbreviation made of plain letters is skipped when the
    paragraph (case-folded, as the ignore-case match folds it) has no period right after
    those letters, a case in which pysbd's substitutions change nothing; abbreviations
    holding a regex character ("u.s", "e.g") take pysbd's own path. The sentences are the
    same (``tests/rag/test_segment.py`` compares them with pysbd's on the corpus and on
    generated text).
    """
    import re

    from pysbd.lang.english import English

    plain = {
        a.strip() for a in English.Abbreviation.ABBREVIATIONS if re.escape(a.strip()) == a.strip()
    }

    class Replacer(English.AbbreviationReplacer):  # type: ignore[misc,name-defined]
        def search_for_abbreviations_in_string(self, text: str) -> str:
            lowered, folded = text.lower(), text.casefold()
            for abbr in self.lang.Abbreviation.ABBREVIATIONS:
                stripped = abbr.strip()
                if stripped not in lowered or (stripped in plain and stripped + "." not in folded):
                    continue
                # from here on, pysbd 0.3.4's own loop body
                abbrev_match = re.findall(rf"(?:^|\s|\r|\n){stripped}", text, flags=re.IGNORECASE)
                if not abbrev_match:
                    continue
                char_array = re.findall(r"(?<={" + re.escape(stripped) + "} ).{1}", text)
                for ind, match in enumerate(abbrev_match):
                    text = self.scan_for_replacements(text, match, ind, char_array)
            return text

    class FastEnglish(English):  # type: ignore[misc,valid-type]
        AbbreviationReplacer = Replacer
        Abbreviation = with_references(English.Abbreviation)

    return FastEnglish


# Abbreviations of scholarly writing that pysbd 0.3.4 lacks. Each only ever stands before what
# it refers to ("cf. Table 2", "Eq. (5)", "Vol. II"), so like "Dr." none ends a sentence, even
# before a capital. Without them "cf. Table 2." and "Eq. (5)" became sentences of their own.
REFERENCE_ABBREVIATIONS = (
    "cf", "eq", "eqs", "figs", "secs", "refs", "sect", "chap", "vol", "thm", "appx",
)  # fmt: skip
# abbreviations that may end a sentence ("Ibid." is often a whole note); pysbd keeps them when
# a lower-case word or a number follows ("approx. 5 km", "ibid., p. 4")
ABBREVIATIONS = ("approx", "resp", "ibid")


def with_references(base: Any) -> Any:
    """``base`` (pysbd's abbreviation lists) with ``REFERENCE_ABBREVIATIONS`` and
    ``ABBREVIATIONS`` added."""

    class Abbreviation(base):  # type: ignore[misc,valid-type]
        ABBREVIATIONS = [*base.ABBREVIATIONS, *REFERENCE_ABBREVIATIONS, *ABBREVIATIONS]
        PREPOSITIVE_ABBREVIATIONS = [*base.PREPOSITIVE_ABBREVIATIONS, *REFERENCE_ABBREVIATIONS]

    return Abbreviation


def sentence_spans(paragraph: str) -> list[tuple[int, int]]:
    """The sentences of one paragraph as trimmed ``(start, end)`` ranges, empty ones dropped."""
    out = []
    for s in _segmenter().segment(paragraph):
        raw = paragraph[s.start : s.end]
        a = s.start + len(raw) - len(raw.lstrip())
        b = s.end - (len(raw) - len(raw.rstrip()))
        if b > a:
            out.append((a, b))
    return out


def split_sentences(doc: Document) -> list[Sentence]:
    """Every sentence of the cleaned text, trimmed, each mapped to the original file.

    Paragraphs (lines of the cleaned text) are segmented one by one, so no sentence
    crosses a paragraph break; a heading line counts as one sentence marked ``is_heading``.
    A fragment with no word in it (the ")." a reference leaves behind) is no sentence: it
    would only ever be quoted as noise.
    """
    out: list[Sentence] = []
    for para in _PARA_RE.finditer(doc.text):
        ptext = para.group(0)
        heading = is_heading_line(ptext)
        if heading:
            raw = ptext
            spans = [(len(raw) - len(raw.lstrip()), len(raw.rstrip()))]
        else:
            spans = sentence_spans(ptext)
        for a, b in spans:
            cs, ce = para.start() + a, para.start() + b
            if ce <= cs or not any(ch.isalnum() for ch in doc.text[cs:ce]):
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
