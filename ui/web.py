"""The web chat: ask in the browser, read each answer's highlighted sources, export a report.

The only module that imports gradio. Everything a document, a file name or a user supplies is
HTML-escaped here before it reaches the page, so a ``<script>`` in a document shows as text.

>>> from index import open_index                      # doctest: +SKIP
>>> app = build_app(open_index())                     # doctest: +SKIP
>>> serve(Settings.from_env(), port=7860)             # doctest: +SKIP
"""

from __future__ import annotations

import html
import os
import re
import shutil
import sys
import tempfile
import time
import unicodedata
from bisect import bisect_right
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

# Before gradio is imported: no version check against api.gradio.app and no usage analytics.
# A tool for documents behind a firewall makes no outbound calls.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402
from gradio.components.chatbot import ExampleMessage  # noqa: E402

from index.build import build_index  # noqa: E402
from index.service import Filters, Index, open_index  # noqa: E402
from index.store import DocRecord  # noqa: E402
from rag.errors import InputError, RagError  # noqa: E402
from rag.load import is_inside, page_starts, read_original  # noqa: E402
from rag.references import EXPORT_SUFFIX, locator, write_export  # noqa: E402
from rag.settings import BUNDLED_CORPUS, Settings  # noqa: E402
from rag.types import Answer, Citation  # noqa: E402
from ui.render import (  # noqa: E402
    confidence_line,
    conversation_markdown,
    reference_line,
    to_markdown,
)

UPLOAD_TYPES = (".txt", ".md", ".html", ".pdf", ".docx")
# the page's reference styles (any CSL style works from the CLI); "" keeps the plain line
STYLE_CHOICES = [
    ("File, title and offsets", ""), ("APA", "apa"), ("Chicago (author-date)", "chicago"),
    ("MLA", "mla"), ("Harvard", "harvard"), ("IEEE", "ieee"),
]
EXPORT_CHOICES = [("RIS (EndNote, Zotero, Mendeley)", "ris"), ("BibTeX", "bibtex"),
                  ("CSL-JSON", "csl-json")]
# clicks on a source's "Open in document" button become the panel's click event, with the
# quote's place as its data
OPEN_DOC_JS = """element.addEventListener('click', (e) => {
  const b = e.target.closest('button.open-doc');
  if (b) trigger('click', {source: b.dataset.source, start: Number(b.dataset.start),
                           end: Number(b.dataset.end)});
});"""
# bring the highlighted quote into view whenever another document is opened
SHOW_MARK_JS = """watch('value', () => {
  const m = element.querySelector('mark');
  if (m) m.scrollIntoView({block: 'center'});
});"""
MAX_NAME_CHARS = 120

# Shown on the empty page when the index holds the bundled corpus; another corpus gets none,
# since questions about news articles it does not hold would only teach a newcomer to expect
# abstentions.
BUNDLED_EXAMPLES = (
    "What did Russia demand as conditions for a lasting peace?",
    "What did Putin propose in June 2024?",
    "How did Ukraine respond to Putin's proposal?",
)

# Queue: one answer at a time, on purpose. A question costs tens of milliseconds of CPU and
# torch already spreads one encoding over both cores, so a second concurrent answer would only
# split them; serial answers keep every user's latency short and predictable. Indexing an
# upload has its own queue (also one at a time) so a large PDF never holds questions back.
# max_size bounds the waiting line: the 65th waiting request is refused at once with "queue
# full" instead of waiting minutes.
QUEUE_CONCURRENCY = 1
QUEUE_MAX_SIZE = 64

# Questions while an upload is indexed: the server hands the GIL between threads every
# SWITCH_SECONDS instead of Python's 5 ms. An answer releases the GIL around each of its
# hundreds of torch operations, and while indexing ran Python code (sentence splitting, the
# BM25 rebuild) it waited up to the whole interval to get it back each time, so one answer took
# up to a second. docs/robustness.md has the load test's figures before and after.
SWITCH_SECONDS = 0.0005

# the Markdown editor drops the final newline that `rag ask --markdown` prints: put it back
COPY_JS = """(md) => {
  if (md) { navigator.clipboard.writeText(md.endsWith('\\n') ? md : md + '\\n'); }
  return [];
}"""

CSS = """
.rag-sources { font-size: 0.95rem; line-height: 1.45; }
.rag-sources .turn { margin: 0 0 1.2rem 0; }
.rag-sources .turn h4 { margin: 0 0 0.4rem 0; font-size: 1rem; }
.rag-sources .cite { border: 1px solid var(--border-color-primary); border-radius: 8px;
  padding: 0.5rem 0.7rem; margin: 0 0 0.6rem 0; background: var(--background-fill-primary); }
.rag-sources .ref { font-size: 0.85rem; color: var(--body-text-color-subdued);
  margin-bottom: 0.3rem; }
.rag-sources .ref .n { font-weight: 700; color: var(--body-text-color); }
.rag-sources .ref .title { font-weight: 600; color: var(--body-text-color); }
.rag-sources .passage { white-space: pre-wrap; margin: 0; }
.rag-sources mark { background: #ffe066; color: #000; padding: 0 2px; border-radius: 2px; }
.rag-sources .closest { text-decoration: underline dotted; text-underline-offset: 3px; }
.rag-sources .not-answer { display: inline-block; font-size: 0.75rem; font-weight: 700;
  text-transform: uppercase; letter-spacing: 0.04em; color: #8a4b00; background: #fff1dc;
  border: 1px solid #f0c58a; border-radius: 4px; padding: 0 0.35rem; margin-left: 0.4rem; }
.rag-sources .abstain { border-left: 4px solid #f0a040; padding: 0.3rem 0.6rem;
  margin-bottom: 0.5rem; background: #fff8ee; color: #5a3300; }
.rag-sources .empty { color: var(--body-text-color-subdued); }
.rag-sources .cite.context { opacity: 0.6; }
.rag-sources .role { font-size: 0.75rem; font-style: italic; margin-left: 0.4rem; }
.rag-sources .confidence { font-size: 0.85rem; margin-bottom: 0.4rem; }
.rag-sources .differ { border-left: 4px solid #5b7bd5; padding: 0.3rem 0.6rem;
  margin-bottom: 0.5rem; background: #eef2ff; color: #1d2b5a; }
.rag-sources .open-doc { font-size: 0.8rem; margin-top: 0.3rem; cursor: pointer;
  border: 1px solid var(--border-color-primary); border-radius: 4px; padding: 0 0.4rem;
  background: var(--background-fill-secondary); color: var(--body-text-color); }
.rag-document { font-size: 0.95rem; line-height: 1.45; }
.rag-document .doc-text { white-space: pre-wrap; margin: 0; }
.rag-document mark { background: #ffe066; color: #000; padding: 0 2px; border-radius: 2px; }
.rag-document .empty { color: var(--body-text-color-subdued); }
"""


# -- safe text ----------------------------------------------------------------------------------
def esc(text: object) -> str:
    """Text for HTML: ``<``, ``>``, ``&`` and quotes become entities, so nothing executes."""
    return html.escape(str(text), quote=True)


_MD_SPECIAL = re.compile(r"([\\`*_\[\]{}()#+\-!|~$>])")


def md_text(text: str) -> str:
    """Text for the chat's Markdown renderer: HTML-escaped, and Markdown syntax neutralised so
    a ``*`` or ``#`` in a document is shown, not obeyed."""
    out = _MD_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))
    # "1. " at a line start would turn into a numbered list
    return re.sub(r"(?m)^(\s*\d+)\.", r"\1\\.", out)


def highlight(passage: str, quote: str, css_class: str | None = None) -> str:
    """The passage as HTML with ``quote`` wrapped in ``<mark>`` (or a span of ``css_class``).

    Whitespace may differ between the two (the passage is cleaned text), so the quote is found
    word by word; every piece is escaped separately, so markup in a document stays text.
    """
    words = quote.split()
    m = None
    if words:
        m = re.search(r"\s+".join(re.escape(w) for w in words), passage)
    open_tag, close_tag = ("<mark>", "</mark>")
    if css_class:
        open_tag, close_tag = (f'<span class="{css_class}">', "</span>")
    if m is None:  # should not happen; show the quote above its passage rather than lose it
        return f"{open_tag}{esc(quote)}{close_tag}\n…\n{esc(passage)}"
    return (
        esc(passage[: m.start()]) + open_tag + esc(m.group(0)) + close_tag + esc(passage[m.end():])
    )


# -- what the page shows ------------------------------------------------------------------------
@dataclass(frozen=True)
class Turn:
    """One question of the conversation, and its answer or the message that replaced it."""

    question: str
    answer: Answer | None = None
    error: str | None = None


def answer_message(a: Answer) -> str:
    """The chat bubble: the answer with bold [n] markers, then one reference line per source."""
    body = re.sub(r"\\\[(\d+)\\\]", r"**\\[\1\\]**", md_text(a.answer))
    if a.abstained:
        body = f"**Not answered.** {body}"
    if a.disagreement is not None:
        body = f"**{md_text(a.disagreement.notice)}**\n\n{body}"
    lines = [body]
    if line := confidence_line(a):
        lines += ["", f"*{md_text(line)}*"]
    if a.citations:
        label = "Closest passages (not an answer)" if a.abstained else "Sources"
        lines.append("")
        lines.append(f"*{label}:*")
        lines.extend(f"- {md_text(reference_line(c))}" for c in a.citations)
    return "\n".join(lines)


def chat_messages(turns: Sequence[Turn]) -> list[dict[str, str]]:
    out: list[dict[str, str]] = []
    for t in turns:
        out.append({"role": "user", "content": md_text(t.question)})
        if t.answer is not None:
            out.append({"role": "assistant", "content": answer_message(t.answer)})
        else:
            out.append({"role": "assistant", "content": f"⚠️ {md_text(t.error or 'no answer')}"})
    return out


def _citation_html(c: Citation, abstained: bool) -> str:
    date_s = esc(c.date) if c.date else "undated"
    tag = '<span class="not-answer">not an answer</span>' if abstained else ""
    if c.role == "context":
        tag = '<span class="role">context: the sentence the answer above leans on</span>'
    passage = highlight(c.passage, c.quote, "closest" if abstained else None)
    kind = " closest-passage" if abstained else " context" if c.role == "context" else ""
    who = "".join(f" · {esc(v)}" for v in (c.author, c.site) if v)
    where = f" · {esc(locator(c))}" if c.page is not None else ""
    where += f" · section “{esc(c.section)}”" if c.section else ""
    return (
        f'<article class="cite{kind}">'
        f'<div class="ref"><span class="n">[{c.n}]</span> <span class="title">{esc(c.title)}</span>'
        f"{who} · {date_s} · <code>{esc(c.source)}</code>{where} · characters {c.start}–{c.end}"
        f" · score {c.score:.2f}{tag}</div>"
        f'<p class="passage">{passage}</p>'
        f'<button class="open-doc" data-source="{esc(c.source)}" data-start="{c.start}" '
        f'data-end="{c.end}">Open in document</button></article>'
    )


def sources_html(turns: Sequence[Turn]) -> str:
    """The sources panel: every answered question's passages, newest first, quotes highlighted."""
    answered = [t.answer for t in turns if t.answer is not None]
    if not answered:
        return (
            '<div class="rag-sources"><p class="empty">Sources appear here: each cited passage, '
            "with its title, date, file and character offsets, and the quoted sentence "
            "highlighted.</p></div>"
        )
    parts = ['<div class="rag-sources">']
    for a in reversed(answered):
        parts.append(f'<section class="turn"><h4>Q: {esc(a.question)}</h4>')
        if a.abstained:
            parts.append(
                '<div class="abstain">The documents do not answer this question. '
                "The closest passages are below; they are <b>not an answer</b>.</div>"
            )
        if line := confidence_line(a):
            parts.append(f'<div class="confidence">{esc(line)}</div>')
        if a.disagreement is not None:
            parts.append(f'<div class="differ">{esc(a.disagreement.notice)}</div>')
        parts.extend(_citation_html(c, a.abstained) for c in a.citations)
        parts.append("</section>")
    parts.append("</div>")
    return "".join(parts)


EMPTY_DOCUMENT = (
    '<div class="rag-document"><p class="empty">Press "Open in document" under a source to read '
    "the whole document here, with the quote highlighted in place (for a PDF, its page).</p></div>"
)


def document_html(original: str, source: str, title: str, start: int, end: int,
                  pages: Sequence[int] = ()) -> str:
    """The original text (for a paged document, the pages the quote is on, with their
    numbers) with the quote ``original[start:end]`` marked in place; every piece escaped."""
    if not 0 <= start < end <= len(original):
        raise InputError(f"characters {start}–{end} are not in {source}")
    lo, hi, where = 0, len(original), ""
    if pages:
        first = max(1, bisect_right(pages, start))
        last = max(first, bisect_right(pages, end - 1))
        lo = pages[first - 1]
        hi = pages[last] if last < len(pages) else len(original)
        where = (f"page {first}" if first == last else f"pages {first}–{last}") + f" of {len(pages)}"
    head = f"{esc(title)} · <code>{esc(source)}</code>" + (f" · {where}" if where else "")
    text = (
        esc(original[lo:start].replace("\f", "")) + "<mark>" + esc(original[start:end])
        + "</mark>" + esc(original[end:hi].replace("\f", ""))
    )
    return (
        f'<div class="rag-document"><h4 class="doc-head">{head}</h4>'
        f'<p class="doc-text">{text}</p></div>'
    )


def document_rows(docs: Sequence[DocRecord]) -> list[list[Any]]:
    # a Dataframe shows cells as text, never as HTML: no escaping, or "&lt;" would show
    return [[d.title, d.date or "undated", d.source, d.chunks] for d in docs]


def source_choices(docs: Sequence[DocRecord]) -> list[tuple[str, str]]:
    return [(f"{d.title[:70]} ({d.source})", d.source) for d in docs]


def parse_day(value: str | None, label: str) -> str | None:
    """A YYYY-MM-DD date from a filter box, or None when the box is empty."""
    v = (value or "").strip()
    if not v:
        return None
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", v):
            raise ValueError
        return date.fromisoformat(v).isoformat()
    except ValueError:
        raise InputError(
            f"{label} must be a date like 2025-03-13. Currently, it is {v!r}."
        ) from None


def make_filters(
    sources: Sequence[str] | None, date_from: str | None, date_to: str | None
) -> Filters:
    lo, hi = parse_day(date_from, "'From'"), parse_day(date_to, "'To'")
    if lo and hi and lo > hi:
        raise InputError(f"the date range is empty: 'From' ({lo}) is after 'To' ({hi}).")
    return Filters(sources=tuple(sources or ()), date_from=lo, date_to=hi)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


# -- uploads ------------------------------------------------------------------------------------
def safe_filename(name: str) -> str:
    """A file name that is safe to create in the corpus folder, from whatever a browser sent.

    Path parts, ``..``, leading dots and dashes, and shell metacharacters are removed; letters
    (any script), digits, ``.``, ``_`` and ``-`` remain. The extension must be one we index.

    >>> safe_filename("../../etc/evil name;rm -rf.TXT")
    'evil_name_rm_-rf.txt'
    """
    base = re.split(r"[\\/]", unicodedata.normalize("NFKC", name))[-1]
    stem, dot, ext = base.rpartition(".")
    ext = ext.lower()
    if not dot or f".{ext}" not in UPLOAD_TYPES:
        raise InputError(
            f"{base or name!r} is not a file type the index reads: upload {', '.join(UPLOAD_TYPES)}"
        )
    stem = "".join(ch if ch.isalnum() or ch in "._-" else "_" for ch in stem)
    stem = re.sub(r"\.{2,}", ".", stem)  # no ".." anywhere
    stem = re.sub(r"_{2,}", "_", stem).strip("._- ") or "upload"
    return f"{stem[: MAX_NAME_CHARS - len(ext) - 1]}.{ext}"


def save_upload(src: Path, corpus_dir: Path, name: str, max_bytes: int) -> Path:
    """Copy an uploaded file into ``corpus_dir`` under a safe, new name; never outside it.

    The same bytes uploaded twice reuse the first copy; a different file with a taken name
    gets ``-1``, ``-2``... rather than replacing a document already in the corpus.
    """
    clean = safe_filename(name)
    size = src.stat().st_size
    if size > max_bytes:
        raise InputError(
            f"{clean}: {size / 1e6:.1f} MB is over the limit of {max_bytes / 1e6:.1f} MB "
            "(RAG_MAX_FILE_BYTES)"
        )
    root = corpus_dir.resolve()
    root.mkdir(parents=True, exist_ok=True)
    stem, ext = clean.rsplit(".", 1)
    data = src.read_bytes()
    for i in range(1000):
        target = root / (clean if i == 0 else f"{stem}-{i}.{ext}")
        if target.parent != root or target.name in ("", ".", ".."):  # belt and braces
            raise InputError(f"{name!r} would be saved outside the corpus folder")
        try:
            # "x": create only, never overwrite and never follow a link planted at the name
            with open(target, "xb") as f:
                f.write(data)
            return target
        except FileExistsError:
            if target.is_file() and not target.is_symlink() and target.read_bytes() == data:
                return target
    raise InputError(f"too many files named like {clean} in the corpus folder")


# -- the app ------------------------------------------------------------------------------------
def _examples(index: Index) -> list[ExampleMessage]:
    try:
        bundled = {p.name for p in BUNDLED_CORPUS.iterdir() if p.is_file()}
    except OSError:
        return []
    held = {d.source for d in index.documents()}
    return [ExampleMessage(text=q) for q in BUNDLED_EXAMPLES] if bundled and bundled <= held else []


def build_app(index: Index) -> gr.Blocks:
    """The chat page and its ``ask`` API endpoint, over an open index.

    >>> app = build_app(open_index(settings))     # doctest: +SKIP
    >>> app.queue().launch()                      # doctest: +SKIP
    """
    settings = index.settings
    report_dir = Path(tempfile.mkdtemp(prefix="rag-reports-"))

    def explain(e: RagError) -> str:
        # the one place the page turns an error into words
        return str(e)

    def write_report(
        turns: Sequence[Turn], session: str, style: str | None = None
    ) -> str | None:
        answers = [t.answer for t in turns if t.answer is not None]
        if not answers:
            return None
        folder = report_dir / re.sub(r"[^A-Za-z0-9]", "", session or "anon")[:64]
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / "cited-answers.md"
        path.write_text(conversation_markdown(answers, style=style or None), encoding="utf-8")
        return str(path)

    def write_references(turns: Sequence[Turn], session: str, fmt: str) -> str | None:
        answers = [t.answer for t in turns if t.answer is not None]
        if not any(not a.abstained and a.citations for a in answers):
            return None
        folder = report_dir / re.sub(r"[^A-Za-z0-9]", "", session or "anon")[:64]
        path = folder / f"references{EXPORT_SUFFIX.get(fmt, '.txt')}"
        return str(write_export(answers, fmt or "ris", path))

    def exports(turns: Sequence[Turn], style: str, fmt: str, request: gr.Request) -> tuple[Any, ...]:
        """The Markdown of the last answer, the report and the references file, in the chosen
        style and format."""
        session = getattr(request, "session_hash", "") or ""
        last = next((t.answer for t in reversed(turns) if t.answer is not None), None)
        report = write_report(turns, session, style)
        refs = write_references(turns, session, fmt)
        return (
            to_markdown(last, style=style or None) if last else "",
            gr.DownloadButton(value=report, interactive=report is not None),
            gr.DownloadButton(value=refs, interactive=refs is not None),
        )

    def open_document(evt: gr.EventData) -> str:
        """The original of a cited document with the quote marked (the sources panel's
        "Open in document"); only documents the index holds, read from the corpus folder."""
        data: dict[str, Any] = getattr(evt, "_data", None) or {}
        source, start, end = data.get("source"), data.get("start", -1), data.get("end", -1)
        held = {d.source: d for d in index.documents()}
        if not isinstance(source, str) or source not in held:
            return EMPTY_DOCUMENT
        try:
            path = settings.corpus_dir / source
            if not is_inside(path, settings.corpus_dir) or not path.is_file():
                raise InputError(
                    f"{source} is not in the corpus folder {settings.corpus_dir}: it was indexed "
                    "from elsewhere, so the page cannot show it"
                )
            original, _ = read_original(path, source, settings.max_file_bytes)
            pages = page_starts(original) if path.suffix.lower() == ".pdf" else ()
            return document_html(original, source, held[source].title, int(start), int(end), pages)
        except (RagError, TypeError, ValueError) as e:
            return f'<div class="rag-document"><p class="empty">{esc(e)}</p></div>'

    def respond(
        question: str, turns: list[Turn], sources: list[str] | None, date_from: str, date_to: str,
        k: float, style: str, fmt: str, request: gr.Request,
    ) -> tuple[Any, ...]:
        turns = list(turns or [])
        try:
            filters = make_filters(sources, date_from, date_to)
            answer = index.ask(question, k=int(k), filters=filters)
            turns.append(Turn(answer.question, answer=answer))
        except RagError as e:
            turns.append(Turn(question or "", error=explain(e)))
        return ("", turns, chat_messages(turns), sources_html(turns),
                *exports(turns, style, fmt, request))

    def respond_example(
        evt: gr.SelectData, turns: list[Turn], sources: list[str] | None, date_from: str,
        date_to: str, k: float, style: str, fmt: str, request: gr.Request,
    ) -> tuple[Any, ...]:
        value = evt.value if isinstance(evt.value, dict) else {"text": str(evt.value)}
        return respond(
            str(value.get("text", "")), turns, sources, date_from, date_to, k, style, fmt, request
        )

    def clear() -> tuple[Any, ...]:
        return (
            [], [], sources_html([]), "", gr.DownloadButton(value=None, interactive=False),
            gr.DownloadButton(value=None, interactive=False), EMPTY_DOCUMENT,
        )

    def doc_views() -> tuple[Any, Any]:
        docs = index.documents()
        return document_rows(docs), gr.Dropdown(choices=source_choices(docs))

    def add_files(
        files: list[str] | None, progress: gr.Progress = gr.Progress()  # noqa: B008
    ) -> tuple[Any, ...]:
        if not files:
            return ("Choose .txt, .md, .html, .pdf or .docx files to add.", *doc_views(), None)
        if len(files) > settings.max_upload_files:
            msg = (
                f"{len(files)} files at once is over the limit of {settings.max_upload_files} "
                "(RAG_MAX_UPLOAD_FILES); add them in smaller groups, or index a folder with "
                "`rag index FOLDER`."
            )
            return (msg, *doc_views(), None)
        lines: list[str] = []
        saved: list[Path] = []
        for f in files:
            p = Path(f)
            try:
                saved.append(save_upload(p, settings.corpus_dir, p.name, settings.max_file_bytes))
            except RagError as e:
                lines.append(f"- not added: {md_text(explain(e))}")
        if saved:
            progress((0, len(saved)), desc="indexing")

            def step(i: int, n: int, name: str) -> None:
                progress((i, n), desc=f"indexing {name}" if name else "indexing: finishing")

            try:
                report = build_index(
                    settings, saved, embedder=index.embedder, progress=step, prune=False
                )
                index.refresh(force=True)
            except RagError as e:
                lines.append(f"- indexing failed: {md_text(explain(e))}")
            else:
                bad = {s.source for s in report.skipped}
                for s in report.skipped:
                    lines.append(f"- not added: {md_text(s.source)}: {md_text(s.reason)}")
                ok = [p.name for p in saved if p.name not in bad]
                if ok:
                    # saved names hold only letters, digits, "._-": safe inside a code span
                    lines.insert(
                        0,
                        f"Added {_plural(len(ok), 'file')}, ready to ask: "
                        + ", ".join(f"`{n}`" for n in ok)
                        + f" ({_plural(report.chunks, 'passage')} indexed"
                        + f" in {report.seconds:.1f} s).",
                    )
        return ("\n".join(lines), *doc_views(), None)

    def ask_api(question: str) -> dict[str, Any]:
        """Answer a question with sentences quoted from the documents; the same JSON as
        `rag ask --json`: question, answer, abstained, citations[n, source, title, date,
        start, end, quote, passage, score, author, site, url, page, page_end, section],
        disagreement."""
        try:
            return index.ask(question).to_dict()
        except RagError as e:
            raise gr.Error(explain(e)) from None

    docs = index.documents()
    # delete_cache: report files and uploads Gradio copied are removed after a day
    with gr.Blocks(
        title="Cited answers", analytics_enabled=False, delete_cache=(3600, 86400)
    ) as app:
        turns = gr.State([])
        gr.Markdown(
            "## Ask your documents\n"
            "Every answer is one to three sentences copied word for word from the documents, "
            "each with a numbered citation. When the documents do not answer, the page says so "
            "and shows the closest passages, marked as not an answer."
        )
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(
                    label="Conversation",
                    height=460,
                    examples=_examples(index) or None,
                    placeholder=(
                        "**Ask a question about the documents.** "
                        "The answer quotes them, and the sources panel shows where each "
                        "sentence comes from."
                    ),
                    latex_delimiters=[],  # a "$" in a news article is money, not maths
                    buttons=["copy"],
                    layout="bubble",
                    elem_id="chat",
                )
                with gr.Row():
                    question = gr.Textbox(
                        placeholder="Type a question and press Enter",
                        show_label=False,
                        lines=1,
                        max_lines=4,
                        scale=5,
                        max_length=settings.max_question_chars,
                        autofocus=True,
                        elem_id="question",
                    )
                    ask_btn = gr.Button("Ask", variant="primary", scale=1, min_width=80)
                with gr.Row():
                    download = gr.DownloadButton(
                        "Download conversation (.md)", interactive=False, size="sm",
                        elem_id="download-report",
                    )
                    copy_btn = gr.Button(
                        "Copy last answer as Markdown", size="sm", elem_id="copy-markdown"
                    )
                    new_btn = gr.Button("New conversation", size="sm")
                with gr.Row():
                    style = gr.Dropdown(
                        choices=STYLE_CHOICES, value="", label="Reference style",
                        info="How the report and the Markdown cite their sources.",
                        elem_id="cite-style", scale=2,
                    )
                    fmt = gr.Dropdown(
                        choices=EXPORT_CHOICES, value="ris", label="Reference file",
                        elem_id="refs-format", scale=2,
                    )
                    refs_download = gr.DownloadButton(
                        "Download references", interactive=False, size="sm",
                        elem_id="download-refs", scale=1,
                    )
                with gr.Accordion("Last answer as Markdown, for a report", open=False):
                    last_md = gr.Code(
                        value="",
                        language="markdown",
                        show_label=False,
                        lines=4,
                        max_lines=14,
                        interactive=False,
                        buttons=["copy"],
                        wrap_lines=True,
                        show_line_numbers=False,
                        elem_id="answer-markdown",
                    )
            with gr.Column(scale=2):
                gr.Markdown("### Sources")
                sources_panel = gr.HTML(
                    sources_html([]), max_height=640, padding=False, elem_id="sources",
                    js_on_load=OPEN_DOC_JS,
                )
                with gr.Accordion("Original document", open=True, elem_id="document-panel"):
                    document_view = gr.HTML(
                        EMPTY_DOCUMENT, max_height=520, padding=False, elem_id="document-view",
                        js_on_load=SHOW_MARK_JS,
                    )
                with gr.Accordion("Filters", open=False, elem_id="filters"):
                    pick = gr.Dropdown(
                        choices=source_choices(docs), multiselect=True, label="Only these sources",
                        info="Empty means all documents.",
                    )
                    with gr.Row():
                        date_from = gr.Textbox(
                            label="From", placeholder="YYYY-MM-DD", max_length=10,
                            elem_id="date-from",
                        )
                        date_to = gr.Textbox(
                            label="To", placeholder="YYYY-MM-DD", max_length=10,
                            elem_id="date-to",
                        )
                    k = gr.Slider(
                        1, 20, value=settings.top_k, step=1, label="Passages to search (k)",
                        info="How many passages the answer's sentences are chosen from.",
                    )
        with gr.Accordion(
            "Documents: add files, see what the index holds", open=False, elem_id="documents-panel"
        ):
            with gr.Row(equal_height=False):
                with gr.Column(scale=1, min_width=260):
                    upload = gr.File(
                        label="Add .txt, .md, .html, .pdf or .docx files",
                        file_count="multiple",
                        file_types=list(UPLOAD_TYPES),
                        type="filepath",
                        height=180,
                        elem_id="upload",
                    )
                    upload_status = gr.Markdown(elem_id="upload-status")
                with gr.Column(scale=3):
                    table = gr.Dataframe(
                        value=document_rows(docs),
                        headers=["Title", "Date", "File", "Chunks"],
                        datatype=["str", "str", "str", "number"],
                        column_widths=["52%", "14%", "26%", "8%"],
                        interactive=False,
                        wrap=True,
                        max_height=420,
                        show_label=False,
                        elem_id="documents",
                    )

        ask_inputs = [question, turns, pick, date_from, date_to, k, style, fmt]
        ask_outputs = [question, turns, chatbot, sources_panel, last_md, download, refs_download]
        for trigger in (question.submit, ask_btn.click):
            trigger(
                respond, ask_inputs, ask_outputs, concurrency_id="answer", api_visibility="private",
                show_progress="minimal",
            )
        chatbot.example_select(
            respond_example, ask_inputs[1:], ask_outputs, concurrency_id="answer",
            api_visibility="private",
        )
        for reset in (new_btn.click, chatbot.clear):
            reset(
                clear, None,
                [turns, chatbot, sources_panel, last_md, download, refs_download, document_view],
                api_visibility="private",
            )
        # runs in the browser only: the text is already on the page, in the Markdown box
        copy_btn.click(
            None, last_md, None, api_visibility="private",
            js=COPY_JS,
        )
        for choice in (style.change, fmt.change):
            choice(
                exports, [turns, style, fmt], [last_md, download, refs_download],
                api_visibility="private",
            )
        sources_panel.click(open_document, None, document_view, api_visibility="private")
        upload.upload(
            add_files, upload, [upload_status, table, pick, upload], concurrency_id="index",
            concurrency_limit=1, api_visibility="private", show_progress="full",
        )
        gr.api(ask_api, api_name="ask", concurrency_id="answer")
    app.queue(default_concurrency_limit=QUEUE_CONCURRENCY, max_size=QUEUE_MAX_SIZE)
    app._rag_report_dir = report_dir  # type: ignore[attr-defined]  # removed by close()
    return app


def start(
    index: Index, host: str = "127.0.0.1", port: int = 7860
) -> tuple[gr.Blocks, str]:
    """Build and launch the app without blocking; returns it and its URL (tests use this)."""
    app = build_app(index)
    try:
        _, url, _ = app.launch(
            server_name=host,
            server_port=port,
            share=False,
            inbrowser=False,
            prevent_thread_lock=True,
            quiet=True,
            show_error=False,  # a RagError becomes a message; anything else is not shown raw
            ssr_mode=False,  # server-side rendering starts a node process; nothing gains here
            mcp_server=False,
            pwa=False,
            enable_monitoring=False,
            run_history=False,
            footer_links=["api"],
            max_file_size=index.settings.max_file_bytes,
            css=CSS,
        )
    except OSError as e:
        close(app)
        raise InputError(
            f"cannot listen on {host}:{port} ({e}): pick another port with --port"
        ) from None
    return app, str(url)


def close(app: gr.Blocks) -> None:
    """Stop the server and remove the report files it wrote."""
    app.close()
    folder = getattr(app, "_rag_report_dir", None)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


def serve(
    settings: Settings,
    host: str = "127.0.0.1",
    port: int = 7860,
    *,
    index: Index | None = None,
    announce: Callable[[str], None] = print,
) -> None:
    """Serve the chat until interrupted.

    >>> serve(Settings.from_env(), port=7860)   # doctest: +SKIP
    """
    index = index or open_index(settings)
    # load the model before the URL is shown, so the first question does not wait for it
    index.embedder.embed(["warm up"])
    # questions embed on one thread anyway; indexing an upload on one thread too leaves the
    # other core free for answering while it runs
    import torch

    torch.set_num_threads(1)
    sys.setswitchinterval(SWITCH_SECONDS)
    app, url = start(index, host, port)
    announce(url)
    try:
        # not app.block_thread(): on Ctrl-C it stops the server but not the heartbeats, and the
        # process then waits 5 s for a thread that will not end; close() stops both at once
        while app.is_running:
            time.sleep(0.2)
    finally:
        close(app)
