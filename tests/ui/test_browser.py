"""The web chat in a real headless Chromium (Debian's package, driven by Playwright).

The server runs in-process on a free loopback port, over its own copy of the corpus and its
own index, because these tests upload files into it.
"""

from __future__ import annotations

import re
import shutil
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "test-output"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync",
]
WAIT_MS = 60_000  # generous: indexing an upload shares 2 cores with the rest of the suite

ANSWERABLE = "What did Russia demand as conditions for a lasting peace?"
OFF_TOPIC = "What is the boiling point of liquid nitrogen in kelvin?"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _squash(s: str) -> str:
    return " ".join(s.split())


@dataclass
class Web:
    url: str
    corpus: Path
    index: Any
    dialogs: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)


@pytest.fixture(scope="module")
def web(tmp_path_factory, embedder) -> Iterator[Web]:
    from index.build import build_index
    from index.service import open_index
    from rag.settings import Settings
    from ui.web import close, start

    base = tmp_path_factory.mktemp("web")
    corpus = base / "corpus"
    shutil.copytree(ROOT / "corpus", corpus)  # uploads go here, never into the real corpus
    settings = Settings.from_env({}, index_dir=base / "index", corpus_dir=corpus)
    build_index(settings, embedder=embedder)
    idx = open_index(settings, embedder=embedder)
    app, url = start(idx, "127.0.0.1", _free_port())
    try:
        yield Web(url, corpus, idx)
    finally:
        close(app)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is missing: run `make browser` (apt-get install chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser, web) -> Iterator[Any]:
    ctx = browser.new_context(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    ctx.grant_permissions(["clipboard-read", "clipboard-write"], origin=web.url.rstrip("/"))
    pg = ctx.new_page()
    web.dialogs.clear()
    web.outside.clear()

    def on_dialog(d: Any) -> None:
        web.dialogs.append(d.message)
        d.dismiss()

    pg.on("dialog", on_dialog)
    local = ("http://127.0.0.1", "data:", "blob:")
    pg.on("request", lambda r: None if r.url.startswith(local) else web.outside.append(r.url))
    # "networkidle" never comes: Gradio keeps a stream open
    pg.goto(web.url, wait_until="domcontentloaded")
    pg.wait_for_selector("#question textarea", timeout=WAIT_MS)
    yield pg
    ctx.close()


def ask(page: Any, question: str) -> float:
    """Type ``question``, press Enter, wait until its answer is on screen; seconds it took."""
    turns_before = page.locator("#sources section.turn").count()
    box = page.locator("#question textarea")
    box.fill(question)
    t0 = time.perf_counter()
    box.press("Enter")
    page.wait_for_function(
        "n => document.querySelectorAll('#sources section.turn').length > n", arg=turns_before,
        timeout=WAIT_MS,
    )
    page.locator("#chat .message-row, #chat [data-testid='bot']").last.wait_for(timeout=WAIT_MS)
    return time.perf_counter() - t0


def bot_text(page: Any) -> str:
    return str(page.locator("#chat [data-testid='bot']").last.inner_text())


def upload(page: Any, path: Path) -> str:
    """Add ``path`` through the Documents panel; the status line once indexing is done."""
    page.locator("#documents-panel").get_by_text("Documents: add files").click()
    page.locator("#upload input[type=file]").set_input_files(str(path))
    status = page.locator("#upload-status")
    status.get_by_text(re.compile(r"Added|not added|failed")).wait_for(timeout=WAIT_MS * 2)
    return str(status.inner_text())


def test_question_gets_an_answer_with_a_highlighted_cited_sentence(page, web):
    from ui.render import conversation_markdown, to_markdown

    expected = web.index.ask(ANSWERABLE)
    assert not expected.abstained and expected.citations  # the page has something to show

    seconds = ask(page, ANSWERABLE)

    text = bot_text(page)
    assert _squash(expected.answer) in _squash(text)
    assert "[1]" in text
    marks = page.locator("#sources mark")
    assert marks.count() == len(expected.citations)
    for m, c in zip(marks.all(), expected.citations, strict=True):
        assert _squash(m.inner_text()) == _squash(c.quote)
    panel = page.locator("#sources").inner_text()
    for c in expected.citations:
        assert c.title in panel and c.source in panel and f"{c.start}–{c.end}" in panel

    OUT.joinpath("screenshots").mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUT / "screenshots" / "answered.png"), full_page=True)
    traced = web.index.ask(ANSWERABLE, trace=True).trace  # the same question, answered again
    assert traced is not None
    server = traced.seconds["total"]
    line = (
        f"Enter to answer on screen: {seconds:.2f} s; answering inside the server: {server:.3f} s "
        f"(question: {ANSWERABLE!r})"
    )
    OUT.joinpath("browser-timing.txt").write_text(line + "\n", encoding="utf-8")
    print(f"\n{line}")

    # one click copies the answer as Markdown: the same text as `rag ask --markdown`
    page.locator("#copy-markdown").click()
    page.wait_for_timeout(300)
    assert page.evaluate("navigator.clipboard.readText()") == to_markdown(expected)

    # the whole conversation downloads as a Markdown report
    with page.expect_download(timeout=WAIT_MS) as dl:
        page.locator("#download-report").click()
    report = Path(dl.value.path()).read_text(encoding="utf-8")
    assert report == conversation_markdown([expected])

    assert not web.outside, f"the page called out: {web.outside}"


def test_example_questions_on_the_empty_page_can_be_asked(page, web):
    from ui.web import BUNDLED_EXAMPLES

    example = page.locator("#chat").get_by_text(BUNDLED_EXAMPLES[0], exact=True)
    example.click()
    page.locator("#sources section.turn").first.wait_for(timeout=WAIT_MS)
    assert BUNDLED_EXAMPLES[0] in page.locator("#sources section.turn").first.inner_text()
    expected = web.index.ask(BUNDLED_EXAMPLES[0])
    assert _squash(expected.answer) in _squash(bot_text(page))


def test_conversation_keeps_earlier_answers_and_abstains_plainly(page, web):
    ask(page, ANSWERABLE)
    ask(page, OFF_TOPIC)

    assert "The documents do not answer this question" in bot_text(page)
    turns = page.locator("#sources section.turn")
    assert turns.count() == 2  # the earlier answer and its sources are still there
    newest = turns.first
    assert OFF_TOPIC in newest.inner_text()
    assert newest.locator(".abstain").is_visible()
    labels = newest.locator(".not-answer")
    assert labels.count() >= 1 and labels.first.inner_text().lower() == "not an answer"
    assert newest.locator("mark").count() == 0  # nothing is highlighted as if it were cited
    assert turns.nth(1).locator("mark").count() >= 1
    assert page.locator("#chat [data-testid='bot']").count() == 2


def test_uploaded_file_is_answerable_right_away(page, web, tmp_path):
    doc = tmp_path / "quillmarsh notes.txt"
    doc.write_text(
        "Quillmarsh harbour notes\n\n"
        "The Quillmarsh lighthouse was rebuilt in 1911 after a storm destroyed the old tower. "
        "Its keeper, Ada Brennock, logged every passing ship for forty years.\n",
        encoding="utf-8",
    )
    real_corpus = sorted(p.name for p in (ROOT / "corpus").iterdir())

    status = upload(page, doc)
    assert "Added 1 file" in status and "quillmarsh_notes.txt" in status
    assert (web.corpus / "quillmarsh_notes.txt").is_file()
    assert sorted(p.name for p in (ROOT / "corpus").iterdir()) == real_corpus
    assert "quillmarsh_notes.txt" in page.locator("#documents").inner_text()

    ask(page, "When was the Quillmarsh lighthouse rebuilt?")
    assert "1911" in bot_text(page)
    assert "quillmarsh_notes.txt" in page.locator("#sources section.turn").first.inner_text()


def test_markup_in_documents_and_questions_renders_as_text(page, web, tmp_path):
    doc = tmp_path / "<img src=x onerror=alert(9)>.txt"
    script = "<script>alert(1)</script>"
    img = "<img src=x onerror=alert(2)>"
    doc.write_text(
        f"Velmora ferry notice {script}\n\n"
        f"The Velmora ferry {img} first sailed from pier nine in 1987, and the {script} "
        "timetable is posted at the gate.\n",
        encoding="utf-8",
    )
    status = upload(page, doc)
    assert "Added 1 file" in status

    # answered or not, the passage is listed, and the reference line in the chat names its title
    ask(page, "When did the Velmora ferry first sail from pier nine?")
    sources = page.locator("#sources section.turn").first.inner_text()
    assert img in sources and script in sources  # shown as characters
    assert script in bot_text(page)
    if "do not answer" not in bot_text(page):
        assert img in bot_text(page)

    ask(page, "Does the <b>ferry</b> leave <img src=y onerror=alert(3)> at 7:15?")
    assert "<img src=y onerror=alert(3)>" in page.locator("#chat").inner_text()

    page.wait_for_timeout(500)  # give any injected handler time to fire
    assert web.dialogs == []
    assert page.locator("#chat img, #sources img, #documents img").count() == 0
    assert page.locator("#sources script, #chat script").count() == 0
    assert f"Velmora ferry notice {script}" in page.locator("#documents").inner_text()


def test_date_filter_limits_the_sources_and_bad_dates_get_a_message(page, web):
    from datetime import date, timedelta

    from index.service import Filters

    unfiltered = web.index.ask(ANSWERABLE)
    dated = [c.date for c in unfiltered.citations if c.date]
    assert dated, "the test needs a dated citation to filter away"
    before = (date.fromisoformat(max(dated)) - timedelta(days=1)).isoformat()
    expected = web.index.ask(ANSWERABLE, filters=Filters(date_to=before))
    assert expected.to_dict() != unfiltered.to_dict()  # so the filter visibly changes something

    page.locator("#filters").get_by_text("Filters").click()
    page.locator("#date-to textarea").fill(before)
    ask(page, ANSWERABLE)
    newest = page.locator("#sources section.turn").first
    shown = newest.locator(".ref").all_inner_texts()
    assert len(shown) == len(expected.citations) > 0
    for ref, c in zip(shown, expected.citations, strict=True):
        assert c.source in ref and f"{c.start}–{c.end}" in ref
        assert c.date is None or c.date <= before

    page.locator("#date-to textarea").fill("")
    page.locator("#date-from textarea").fill("2025-13-40")
    box = page.locator("#question textarea")
    box.fill(ANSWERABLE)
    box.press("Enter")
    message = page.locator("#chat").get_by_text("'From' must be a date like 2025-03-13")
    message.wait_for(timeout=WAIT_MS)


def test_a_citation_opens_its_document_with_the_quote_highlighted_in_place(page, web, tmp_path):
    from rag.load import read_original
    from tests.index.test_documents import PDF_PAGES, make_pdf

    expected = web.index.ask(ANSWERABLE)
    ask(page, ANSWERABLE)
    c = expected.citations[-1]
    original, _ = read_original(web.corpus / c.source, c.source)
    newest = page.locator("#sources section.turn").first
    newest.locator("button.open-doc").nth(len(expected.citations) - 1).click()
    mark = page.locator("#document-view mark")
    mark.wait_for(timeout=WAIT_MS)
    assert _squash(mark.inner_text()) == _squash(original[c.start : c.end])
    view = page.locator("#document-view").inner_text()
    assert c.source in view and c.title in view
    # the whole document, not just the passage: its first and last lines are there
    lines = [x for x in original.splitlines() if x.strip()]
    assert _squash(lines[0]) in _squash(view) and _squash(lines[-1]) in _squash(view)
    assert mark.is_visible()

    # a PDF opens at the page its quote is on, with the page's number, and no other page
    make_pdf(tmp_path / "harbour-review.pdf")
    assert "Added 1 file" in upload(page, tmp_path / "harbour-review.pdf")
    question = "When was the quay wall at berth seven finished?"
    expected = web.index.ask(question)
    n, c = next((k, c) for k, c in enumerate(expected.citations) if c.source == "harbour-review.pdf")
    original, _ = read_original(web.corpus / c.source, c.source)
    ask(page, question)
    newest = page.locator("#sources section.turn").first
    assert f"p. {c.page}" in newest.locator(".ref").nth(n).inner_text()
    newest.locator("button.open-doc").nth(n).click()
    head = page.locator("#document-view .doc-head")
    head.get_by_text(f"page {c.page} of 3").wait_for(timeout=WAIT_MS)
    assert _squash(page.locator("#document-view mark").inner_text()) == _squash(
        original[c.start : c.end]
    )
    view = page.locator("#document-view .doc-text").inner_text()
    others = [p for p in (1, 2, 3) if p != c.page]
    assert not any(_squash(PDF_PAGES[p - 1][-1]) in _squash(view) for p in others)
    OUT.joinpath("screenshots").mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(OUT / "screenshots" / "document-view.png"), full_page=True)
    assert not web.outside, f"the page called out: {web.outside}"


def test_references_download_in_the_chosen_format_and_style(page, web):
    import rispy

    ask(page, "What did Rubio say about a military solution?")
    with page.expect_download(timeout=WAIT_MS) as dl:
        page.locator("#download-refs").click()
    record = rispy.loads(Path(dl.value.path()).read_text(encoding="utf-8"))[0]
    assert record["authors"] == ["Dragu, Paul"] and record["secondary_title"] == "The New American"
    # the report cites its sources in the style chosen on the page
    page.locator("#cite-style input").click()
    page.get_by_role("option", name="APA").click()
    deadline = time.monotonic() + WAIT_MS / 1000
    report = ""
    while "Dragu, P. (2025, March 13)" not in report and time.monotonic() < deadline:
        page.wait_for_timeout(500)
        with page.expect_download(timeout=WAIT_MS) as dl:
            page.locator("#download-report").click()
        report = Path(dl.value.path()).read_text(encoding="utf-8")
    assert "Dragu, P. (2025, March 13). Putin Rejects Ceasefire Proposal" in report
    assert "(Dragu, 2025, characters " in report
