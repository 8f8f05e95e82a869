"""Answers rendered for people: plain text for the terminal and Markdown for reports.

With a citation style (``apa``, ``chicago``, ``mla``, any CSL style name), each source is a
reference in that style, rendered by citeproc-py, with its in-text citation and locator.
"""

from __future__ import annotations

from collections.abc import Sequence

from rag.references import Reference, formatted_references, locator
from rag.types import Answer, Citation


def reference_line(c: Citation) -> str:
    """One reference: author, title, outlet, date, file, page or section, and offsets, enough
    to cite the quote and to find it again. Fields the document does not give are left out."""
    parts = [
        c.author,
        f'"{c.title}"',
        c.site,
        c.date or "undated",
        c.source,
        locator(c) if c.page is not None else None,
        f'section "{c.section}"' if c.section else None,
        f"characters {c.start}–{c.end}",
    ]
    return f"[{c.n}] " + ", ".join(p for p in parts if p)


def confidence_line(a: Answer) -> str | None:
    """How sure the reader is, and why it abstained, in one line (None when it cannot say)."""
    if a.abstained:
        return f"Not answered: {a.abstain_reason}." if a.abstain_reason else None
    if a.confidence is None:
        return None
    # quotes regrouped by source (newest first) no longer put the reader's best first
    which = "the reader's best quote" if a.disagreement is not None else "the first quote"
    return f"Confidence that {which} answers: {a.confidence:.0%}"


def styled_line(r: Reference) -> str:
    """A reference in a citation style, followed by its in-text citation with the locator."""
    return f"[{r.n}] {r.entry} {r.in_text}"


def _reference_lines(a: Answer, style: str | None) -> list[str]:
    if style:
        return [styled_line(r) for r in formatted_references(a, style)]
    return [reference_line(c) for c in a.citations]


def _groups(a: Answer) -> list[tuple[str, list[Citation]]]:
    """The quotes of a disagreeing answer by document (the order the answer gives: newest
    first), each under a heading naming the document and its date."""
    assert a.disagreement is not None
    by_n = {c.n: c for c in a.citations}
    return [
        (f'"{g.title}" ({g.date or "undated"})', [by_n[n] for n in g.citations if n in by_n])
        for g in a.disagreement.groups
    ]


def to_text(a: Answer, style: str | None = None) -> str:
    """What `rag ask` prints: the answer (grouped by source when sources differ), then the
    sources, each with its quote."""
    if a.disagreement is not None:
        lines = [a.disagreement.notice, ""]
        for head, cits in _groups(a):
            lines.append(f"From {head}:")
            lines.append("    " + " ".join(f"{c.quote} [{c.n}]" for c in cits))
        lines.append("")
    else:
        lines = [a.answer, ""]
    if line := confidence_line(a):
        lines += [line, ""]
    if a.abstained and a.citations:
        lines.append("Closest passages (not an answer):")
    elif a.citations:
        lines.append("Sources:")
    for ref, c in zip(_reference_lines(a, style), a.citations, strict=True):
        role = " (context for the sentence before it)" if c.role == "context" else ""
        lines.append(ref + role)
        lines.append(f"    “{c.quote}”")
    return "\n".join(lines).rstrip() + "\n"


def to_markdown(a: Answer, heading: bool = True, style: str | None = None) -> str:
    """A block to paste into a report: the quoted sentences and a reference line per source
    (in ``style`` when given); sources that differ are said so and shown apart."""
    out = [f"### {a.question}", ""] if heading else []
    if a.abstained:
        out.append(f"_{a.answer}_")
        out.append("")
        if line := confidence_line(a):
            out += [f"_{line}_", ""]
        if a.citations:
            out.append("Closest passages (not an answer):")
            out.append("")
    if a.disagreement is not None:
        out += [f"**{a.disagreement.notice}**", ""]
        for head, cits in _groups(a):
            out += [f"*From {head}:*", ""]
            for c in cits:
                out += [f"> {c.quote} [{c.n}]", ">"]
            out[-1] = ""
    else:
        for c in a.citations:
            out.append(f"> {c.quote} [{c.n}]")
            out.append(">")
    if out and out[-1] in (">", ""):
        out.pop()
    if a.citations:
        out.append("")
        out.extend(f"{line}  " for line in _reference_lines(a, style))
    return "\n".join(out).rstrip() + "\n"


def conversation_markdown(
    answers: Sequence[Answer], title: str = "Cited answers", style: str | None = None
) -> str:
    """A whole session as one Markdown report."""
    parts = [f"# {title}", ""]
    for a in answers:
        parts.append(to_markdown(a, style=style))
    return "\n".join(parts)
