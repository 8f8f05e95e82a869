"""Answers rendered for people: plain text for the terminal and Markdown for reports."""

from __future__ import annotations

from collections.abc import Sequence

from rag.types import Answer, Citation


def reference_line(c: Citation) -> str:
    """One reference: title, date, file and offsets, enough to find the quote again."""
    date = c.date or "undated"
    return f'[{c.n}] "{c.title}", {date}, {c.source}, characters {c.start}–{c.end}'


def confidence_line(a: Answer) -> str | None:
    """How sure the reader is, and why it abstained, in one line (None when it cannot say)."""
    if a.abstained:
        return f"Not answered: {a.abstain_reason}." if a.abstain_reason else None
    if a.confidence is None:
        return None
    return f"Confidence that the first quote answers: {a.confidence:.0%}"


def to_text(a: Answer) -> str:
    lines = [a.answer, ""]
    if line := confidence_line(a):
        lines += [line, ""]
    if a.abstained and a.citations:
        lines.append("Closest passages (not an answer):")
    elif a.citations:
        lines.append("Sources:")
    for c in a.citations:
        role = " (context for the sentence before it)" if c.role == "context" else ""
        lines.append(reference_line(c) + role)
        lines.append(f"    “{c.quote}”")
    return "\n".join(lines).rstrip() + "\n"


def to_markdown(a: Answer, heading: bool = True) -> str:
    """A block to paste into a report: the quoted sentences and a reference line per source."""
    out = [f"### {a.question}", ""] if heading else []
    if a.abstained:
        out.append(f"_{a.answer}_")
        out.append("")
        if line := confidence_line(a):
            out += [f"_{line}_", ""]
        if a.citations:
            out.append("Closest passages (not an answer):")
            out.append("")
    for c in a.citations:
        out.append(f"> {c.quote} [{c.n}]")
        out.append(">")
    if out and out[-1] == ">":
        out.pop()
    if a.citations:
        out.append("")
        out.extend(f"{reference_line(c)}  " for c in a.citations)
    return "\n".join(out).rstrip() + "\n"


def conversation_markdown(answers: Sequence[Answer], title: str = "Cited answers") -> str:
    """A whole session as one Markdown report."""
    parts = [f"# {title}", ""]
    for a in answers:
        parts.append(to_markdown(a))
    return "\n".join(parts)
