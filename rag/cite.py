"""What a citation says about its document (author, outlet, address, page, section), filled in
from the index's document records once an answer is assembled.

>>> from rag.types import Answer, Citation, DocumentInfo
>>> c = Citation(1, "r.pdf", "Report", None, 130, 140, "It rained.", "It rained.", 1.0)
>>> docs = {"r.pdf": DocumentInfo("r.pdf", "Report", author="Ann Lee", page_starts=(0, 120))}
>>> cited = with_sources(Answer("?", "It rained. [1]", False, (c,)), docs).citations[0]
>>> cited.author, cited.page, cited.page_end
('Ann Lee', 2, None)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from rag.types import Answer, Citation, DocumentInfo


def cite_with(c: Citation, doc: DocumentInfo | None) -> Citation:
    """``c`` with its document's author, site and url, and the page and section of its quote.

    Nothing is guessed: a document without pages gives no page, one without headings no
    section, and a citation of a document the index no longer holds is returned as it was.
    """
    if doc is None:
        return c
    page = doc.page_of(c.start)
    last = doc.page_of(max(c.start, c.end - 1))
    return replace(
        c,
        author=doc.author,
        site=doc.site,
        url=doc.url,
        page=page,
        page_end=last if last != page else None,
        section=doc.section_of(c.start),
    )


def with_sources(answer: Answer, docs: Mapping[str, DocumentInfo]) -> Answer:
    """The answer with every citation's document fields filled in from ``docs`` (by source)."""
    return replace(
        answer, citations=tuple(cite_with(c, docs.get(c.source)) for c in answer.citations)
    )
