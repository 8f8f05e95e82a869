"""The eval's reports: a rich table in the terminal, JSON records, and an HTML or Markdown report.

>>> print_table(run)                          # doctest: +SKIP
>>> write_report(run, Path("report.html"))    # doctest: +SKIP
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from eval.metrics import RECALL_KS
from eval.run import METHOD_HELP, EvalRun, Outcome, Record
from rag.errors import InputError

REPORT_SUFFIXES = (".html", ".htm", ".md", ".markdown")


def _f3(v: Any) -> str:
    return "—" if v is None else f"{v:.3f}"


def _ms(v: Any) -> str:
    return "—" if v is None else f"{v:,.0f} ms"


def _words(v: Any) -> str:
    return (
        "—"
        if v is None
        else f"{v:.1f}"
        if isinstance(v, float) and not v.is_integer()
        else f"{v:.0f}"
    )


def _questions(s: dict[str, Any]) -> str:
    return f"{s['questions']} ({s['answerable']} / {s['unanswerable']})"


def _grounding(s: dict[str, Any]) -> str:
    if s["grounding"] is None:
        return "—"
    return f"{s['grounding']:.3f} ({s['ungrounded']}/{s['citations']} bad)"


Row = tuple[str, Callable[[dict[str, Any]], str]]
ROWS: list[Row] = [
    ("Questions (ans. / unans.)", _questions),
    *[(f"Recall@{k}", lambda s, k=k: _f3(s.get(f"recall@{k}"))) for k in RECALL_KS],
    ("MRR", lambda s: _f3(s.get("mrr"))),
    ("nDCG@10", lambda s: _f3(s.get("ndcg@10"))),
    ("Answer hit", lambda s: _f3(s["answer_hit"])),
    ("First quote holds the answer", lambda s: _f3(s.get("first_quote_hit"))),
    ("Right sentence ranked 1st", lambda s: _f3(s.get("right_sentence_first"))),
    ("Right sentence in top 3", lambda s: _f3(s.get("right_sentence_top3"))),
    ("EM, best sentence", lambda s: _f3(s["em"])),
    ("F1, best sentence", lambda s: _f3(s["f1"])),
    ("Words, median", lambda s: _words(s["words_median"])),
    ("Words, mean", lambda s: _words(s["words_mean"])),
    ("Citation precision", lambda s: _f3(s["citation_precision"])),
    ("Citation recall", lambda s: _f3(s["citation_recall"])),
    ("Grounding", _grounding),
    ("Abstention precision", lambda s: _f3(s["abstention_precision"])),
    ("Abstention recall", lambda s: _f3(s["abstention_recall"])),
    ("False abstention", lambda s: _f3(s["false_abstention"])),
    ("Sources-differ flag precision", lambda s: _f3(s.get("disagreement_precision"))),
    ("Sources-differ flag recall", lambda s: _f3(s.get("disagreement_recall"))),
    ("Latency p50", lambda s: _ms(s["latency_p50_ms"])),
    ("Latency p95", lambda s: _ms(s["latency_p95_ms"])),
]
FAILURE_KINDS = (
    "retrieval miss",
    "wrong sentence",
    "false abstention",
    "false abstention (retrieval miss)",
    "missed abstention",
    "ungrounded citation",
    "error",
)


def table_rows(run: EvalRun) -> list[tuple[str, list[str]]]:
    """Each metric per method; over several runs (seeds), the mean and the range of the runs."""

    def cell(m: str, fmt: Callable[[dict[str, Any]], str]) -> str:
        mean = fmt(run.summaries[m])
        if not run.per_run:
            return mean
        each = sorted({fmt(p[m]) for p in run.per_run})
        try:
            lo, hi = min(each, key=_num), max(each, key=_num)
        except ValueError:
            return mean
        return mean if lo == hi else f"{mean} ({lo}–{hi})"

    return [(label, [cell(m, fmt) for m in run.methods]) for label, fmt in ROWS]


def _num(text: str) -> float:
    """The leading number of a formatted cell ("0.912", "38", "48 ms")."""
    head = text.split()[0].replace(",", "")
    return float(head)


def failure_rows(run: EvalRun) -> list[tuple[str, list[str]]]:
    kinds = [
        k for k in FAILURE_KINDS if any(run.summaries[m]["failures"].get(k) for m in run.methods)
    ]
    return [(k, [str(run.summaries[m]["failures"].get(k, 0)) for m in run.methods]) for k in kinds]


def type_rows(run: EvalRun) -> list[tuple[str, list[str]]]:
    """Share correct per question type (answer hit; abstained for unanswerable)."""
    first = run.summaries[run.methods[0]]["by_type"]
    if len(first) < 2:
        return []
    return [
        (
            f"{t} ({first[t]['n']})",
            [_f3(run.summaries[m]["by_type"][t]["correct"]) for m in run.methods],
        )
        for t in first
    ]


def timing_line(run: EvalRun) -> str:
    n = len(run.records)
    parts = [f"{n} questions × {len(run.methods)} methods in {run.seconds:.0f} s"]
    if run.index_seconds is not None:
        parts.append(f"indexing {run.index_seconds:.0f} s")
    return "; ".join(parts)


# -- terminal ---------------------------------------------------------------------------------
def print_table(run: EvalRun, console: Any = None) -> None:
    """All methods side by side in a rich table, then failures and per-type results."""
    from rich.console import Console
    from rich.table import Table

    if console is None:
        console = Console()
        if not console.is_terminal:  # a pipe or file: room for all methods side by side
            console = Console(width=120)

    def table(title: str, first: str, rows: list[tuple[str, list[str]]]) -> Table:
        t = Table(title=title, title_justify="left")
        t.add_column(first, no_wrap=True)  # labels whole: tests and readers grep them
        for m in run.methods:
            t.add_column(m, justify="right")
        for label, vals in rows:
            t.add_row(label, *vals)
        return t

    console.print(table(f"rag eval: {run.name}", "metric", table_rows(run)))
    if rows := failure_rows(run):
        console.print(table("Failed questions, by kind", "kind", rows))
    if rows := type_rows(run):
        console.print(table("Correct, by question type", "type (n)", rows))
    for m in run.methods:
        console.print(f"{m}: {METHOD_HELP.get(m, m)}", markup=False, highlight=False)
    for note in run.notes:
        console.print(note, markup=False, highlight=False)
    console.print(timing_line(run), markup=False)


# -- files ----------------------------------------------------------------------------------
def _write(path: Path, data: str | bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, bytes):
            path.write_bytes(data)
        else:
            path.write_text(data, encoding="utf-8")
    except OSError as e:
        raise InputError(f"cannot write {path}: {e.strerror or e}") from None


def write_json(run: EvalRun, path: Path) -> None:
    _write(path, json.dumps(run.to_dict(), ensure_ascii=False, indent=1) + "\n")


def check_report_path(path: Path) -> None:
    if path.suffix.lower() not in REPORT_SUFFIXES:
        raise InputError(
            f"--report {path}: the file name must end in .html or .md (it picks the format)"
        )


def recall_plot_png(run: EvalRun) -> bytes:
    """Recall@k per method as a PNG (matplotlib's Agg canvas; no display needed)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3.6), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for m in run.methods:
        s = run.summaries[m]
        if any(s.get(f"recall@{k}") is None for k in RECALL_KS):
            continue
        label = m
        if m == "top-passage" and "hybrid" in run.methods:
            continue  # the same ranking as hybrid: one line for both
        if m == "hybrid" and "top-passage" in run.methods:
            label = "hybrid (and top-passage)"
        ys = [float(s[f"recall@{k}"]) for k in RECALL_KS]
        ax.plot(RECALL_KS, ys, marker="o", label=label)
    ax.set_xticks(RECALL_KS)
    ax.set_xlabel("k (files)")
    ax.set_ylabel("Recall@k")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    ax.set_title(f"Recall@k: {run.name}")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def markdown_tables(run: EvalRun) -> str:
    """The metrics table (and failure/type tables) as Markdown, ready to paste into a README."""

    def md(first: str, rows: list[tuple[str, list[str]]]) -> str:
        head = f"| {first} | " + " | ".join(run.methods) + " |"
        sep = "|---|" + "---:|" * len(run.methods)
        body = ["| " + " | ".join([label, *vals]) + " |" for label, vals in rows]
        return "\n".join([head, sep, *body])

    parts = [md("metric", table_rows(run))]
    if rows := failure_rows(run):
        parts.append("Failed questions, by kind:\n\n" + md("kind", rows))
    if rows := type_rows(run):
        parts.append(
            "Correct, by question type (answer hit; abstained for unanswerable):\n\n"
            + md("type (n)", rows)
        )
    return "\n\n".join(parts) + "\n"


def _came_back(rec: Record, method: str) -> tuple[str, list[str]]:
    o = rec.outcomes[method]
    if o.error:
        return f"error: {o.error}", []
    cites = []
    for c in o.citations:
        flag = "" if c["grounded"] else f" — NOT GROUNDED: {c.get('grounding_error', '')}"
        cites.append(f"[{c['n']}] {c['source']} {c['start']}–{c['end']}{flag}")
    text = ("(abstained) " if o.abstained else "") + o.answer
    return text, cites


def _expected(rec: Record) -> str:
    it = rec.item
    if not it.answerable:
        extra = f" (left-out article's answer: {' | '.join(it.withheld)})" if it.withheld else ""
        return "abstain" + extra
    return f"{' | '.join(it.answers)} — from {', '.join(it.sources) or '(no source given)'}"


_CSS = (
    "body{font-family:system-ui,sans-serif;max-width:72rem;margin:2rem auto;padding:0 1rem}"
    "table{border-collapse:collapse;margin:1rem 0}"
    "td,th{border:1px solid #ccc;padding:.25rem .6rem}"
    "td{text-align:right;font-variant-numeric:tabular-nums}"
    "th[scope=row]{text-align:left;font-weight:normal}"
    ".q{margin:1rem 0;padding:.5rem 1rem;border-left:4px solid #c33;background:#fafafa}"
    ".k{color:#c33;font-weight:bold}.m{color:#555}blockquote{margin:.3rem 0 .3rem 1rem}"
)


def _html_report(run: EvalRun) -> str:
    e = html.escape

    def table(first: str, rows: list[tuple[str, list[str]]]) -> str:
        head = "".join(f"<th>{e(m)}</th>" for m in run.methods)
        body = "".join(
            f"<tr><th scope=row>{e(label)}</th>"
            + "".join(f"<td>{e(v)}</td>" for v in vals)
            + "</tr>"
            for label, vals in rows
        )
        return (
            f"<table><thead><tr><th>{e(first)}</th>{head}</tr></thead><tbody>{body}</tbody></table>"
        )

    png = base64.b64encode(recall_plot_png(run)).decode("ascii")
    out = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        f"<title>rag eval: {e(run.name)}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>rag eval: {e(run.name)}</h1>",
    ]
    if run.command:
        out.append(f"<p>Command: <code>{e(run.command)}</code></p>")
    out.append(f"<p>{e(timing_line(run))}</p>")
    out.append(
        "<ul>"
        + "".join(f"<li><b>{e(m)}</b>: {e(METHOD_HELP.get(m, m))}</li>" for m in run.methods)
        + "</ul>"
    )
    out.append(table("metric", table_rows(run)))
    out.append(f'<img alt="Recall@k per method" src="data:image/png;base64,{png}">')
    if rows := failure_rows(run):
        out.append("<h2>Failed questions, by kind</h2>" + table("kind", rows))
    if rows := type_rows(run):
        out.append("<h2>Correct, by question type</h2>" + table("type (n)", rows))
    for note in run.notes:
        out.append(f"<p class=m>{e(note)}</p>")
    out.append("<h2>Failed questions</h2>")
    for m in run.methods:
        failed = run.failed(m)
        opened = " open" if m == run.methods[0] else ""
        out.append(f"<details{opened}><summary><b>{e(m)}</b>: {len(failed)} failed</summary>")
        for rec in failed:
            text, cites = _came_back(rec, m)
            o = rec.outcomes[m]
            out.append(
                f"<div class=q><p><b>{e(rec.item.id)}</b> "
                f"<span class=m>({e(rec.item.type or '-')})</span> "
                f"{e(rec.item.question)}<br><span class=k>{e(_failures(o))}</span></p>"
                f"<p>Expected: {e(_expected(rec))}</p>"
                f"<p>Came back:</p><blockquote>{e(text)}</blockquote>"
                + ("<ul>" + "".join(f"<li>{e(c)}</li>" for c in cites) + "</ul>" if cites else "")
                + (
                    f"<p class=m>Top files retrieved: {e(', '.join(o.ranking[:5]))}</p>"
                    if o.ranking
                    else ""
                )
                + "</div>"
            )
        out.append("</details>")
    out.append("</body></html>\n")
    return "\n".join(out)


def _failures(o: Outcome) -> str:
    """The failure kinds, and for a wrong sentence where the right one stood in the ranking."""
    text = ", ".join(o.failures)
    rank = o.checks.get("right_sentence_rank")
    if "wrong sentence" in o.failures and rank:
        text += f" (the right sentence ranked {_ordinal(rank)})"
    return text


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _md_text(text: str) -> str:
    # quotes come from arbitrary documents: no raw HTML, no line breaks inside a list item
    return html.escape(" ".join(text.split()), quote=False)


def _md_report(run: EvalRun, plot_name: str) -> str:
    out = [f"# rag eval: {_md_text(run.name)}", ""]
    if run.command:
        out += [f"Command: `{run.command}`", ""]
    out += [timing_line(run), ""]
    out += [f"- **{m}**: {METHOD_HELP.get(m, m)}" for m in run.methods] + [""]
    out += [markdown_tables(run), f"![Recall@k per method]({plot_name})", ""]
    out += [f"_{_md_text(n)}_\n" for n in run.notes]
    out += ["## Failed questions", ""]
    # the first method in full; the others by id only, to keep the file readable
    first, *others = run.methods
    failed = run.failed(first)
    out += [f"### {first}: {len(failed)} failed", ""]
    for rec in failed:
        text, cites = _came_back(rec, first)
        o = rec.outcomes[first]
        out.append(
            f"- **{_md_text(rec.item.id)}** ({_md_text(rec.item.type or '-')}) "
            f"{_md_text(rec.item.question)}  \n"
            f"  _{_md_text(_failures(o))}_  \n"
            f"  expected: {_md_text(_expected(rec))}  \n"
            f"  came back: {_md_text(text)}"
            + "".join(f"  \n  {_md_text(c)}" for c in cites)
            + (f"  \n  top files: {_md_text(', '.join(o.ranking[:5]))}" if o.ranking else "")
        )
    out.append("")
    for m in others:
        by_kind: dict[str, list[str]] = {}
        for rec in run.failed(m):
            for kind in rec.outcomes[m].failures:
                by_kind.setdefault(kind, []).append(_md_text(rec.item.id))
        out += [f"### {m}: {len(run.failed(m))} failed (details in the HTML report)", ""]
        out += [f"- {kind}: {', '.join(ids)}" for kind, ids in by_kind.items()] + [""]
    return "\n".join(out)


def write_report(run: EvalRun, path: Path) -> list[Path]:
    """An HTML report (plot embedded) or a Markdown one (plot in a PNG beside it), by suffix.

    Returns the files written.
    """
    check_report_path(path)
    if path.suffix.lower() in (".html", ".htm"):
        _write(path, _html_report(run))
        return [path]
    plot = path.with_name(path.stem + ".recall.png")
    _write(plot, recall_plot_png(run))
    _write(path, _md_report(run, plot.name))
    return [path, plot]
