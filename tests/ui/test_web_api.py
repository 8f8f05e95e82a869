"""The web chat's `ask` API endpoint, driven with gradio_client against `rag serve` on loopback,
plus the page's pure helpers: safe upload names and escaped rendering."""

from __future__ import annotations

import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
QA_FILE = ROOT / "eval" / "qa.jsonl"

SERVE_TIMEOUT = 180  # seconds: a cold model load plus, for the missing-index case, indexing


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Served:
    """A `rag serve` subprocess; its stdout and stderr lines are collected as they come."""

    def __init__(self, *args: str) -> None:
        self.port = free_port()
        cmd = [sys.executable, "-m", "ui.cli", *args, "serve", "--port", str(self.port)]
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.output: list[str] = []
        threading.Thread(target=self._pump, daemon=True).start()

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.put(line)

    def wait_url(self) -> str:
        deadline = time.monotonic() + SERVE_TIMEOUT
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                if self.proc.poll() is not None:
                    break
                continue
            self.output.append(line)
            if line.startswith("web chat: "):
                return line.split()[2]
        self.stop()
        pytest.fail("rag serve printed no URL:\n" + "".join(self.output))

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


@pytest.fixture(scope="module")
def api(built) -> Iterator[object]:
    """gradio_client connected to `rag serve` over the session's built index."""
    from gradio_client import Client

    srv = Served("--index-dir", str(built.index_dir), "--corpus", str(built.corpus_dir))
    url = srv.wait_url()
    assert url.startswith(f"http://127.0.0.1:{srv.port}")
    try:
        yield Client(url, verbose=False)
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def session_index(built, embedder):
    # index.service, not the package: pytest puts tests/ on sys.path, where tests/index would
    # shadow the `index` package itself (the editable install resolves only its submodules)
    from index.service import open_index

    return open_index(built, embedder=embedder)


def _answerable_questions(n: int) -> list[str]:
    import json

    lines = QA_FILE.read_text(encoding="utf-8").splitlines()
    rows = [json.loads(line) for line in lines if line.strip()]
    return [r["question"] for r in rows if r["answers"]][:n]


def _squash(s: str) -> str:
    return " ".join(s.split())


def test_ask_endpoint_returns_the_cli_json_with_verifiable_citations(api, built, session_index):
    from rag.load import read_original

    answered = 0
    for q in _answerable_questions(4):
        got = api.predict(q, api_name="/ask")  # type: ignore[attr-defined]
        assert set(got) == {
            "question", "answer", "abstained", "confidence", "abstain_reason", "citations",
            "disagreement",
        }
        assert got["question"] == q
        assert isinstance(got["abstained"], bool)
        # the same JSON `rag ask --json` prints, from the same index and model
        assert got == session_index.ask(q).to_dict()
        for c in got["citations"]:
            assert set(c) == {
                "n", "source", "title", "date", "start", "end", "quote", "passage", "score",
                "role", "probability", "author", "site", "url", "page", "page_end", "section",
            }
            original, _ = read_original(built.corpus_dir / c["source"], c["source"])
            assert 0 <= c["start"] < c["end"] <= len(original)
            assert _squash(original[c["start"]:c["end"]]) == _squash(c["quote"])
            assert _squash(c["quote"]) in _squash(c["passage"])
        if not got["abstained"]:
            answered += 1
            assert got["citations"], "an answer without citations"
            for c in got["citations"]:
                assert f"[{c['n']}]" in got["answer"]
    assert answered >= 2, "the endpoint answered fewer than 2 of 4 answerable questions"


def test_ask_endpoint_abstains_off_topic(api):
    got = api.predict("What is the boiling point of liquid nitrogen in kelvin?", api_name="/ask")  # type: ignore[attr-defined]
    assert got["abstained"] is True
    assert "do not answer" in got["answer"]
    assert not re.search(r"\[\d+\]", got["answer"])  # no markers: nothing is cited as an answer


def test_ask_endpoint_reports_bad_input_as_a_message(api):
    from gradio_client.exceptions import AppError

    with pytest.raises(AppError, match="the question is empty"):
        api.predict("   ", api_name="/ask")  # type: ignore[attr-defined]


def test_only_the_ask_endpoint_is_public(api):
    named = api.view_api(print_info=False, return_format="dict")["named_endpoints"]  # type: ignore[attr-defined]
    assert list(named) == ["/ask"]


def test_serve_builds_a_missing_index_first(tmp_path):
    from gradio_client import Client

    corpus = tmp_path / "docs"
    corpus.mkdir()
    (corpus / "lighthouse.txt").write_text(
        "The Quillmarsh lighthouse\n\n"
        "The Quillmarsh lighthouse was rebuilt in 1911 after a storm destroyed the old tower. "
        "Its keeper, Ada Brennock, logged every passing ship for forty years.\n",
        encoding="utf-8",
    )
    srv = Served("--index-dir", str(tmp_path / "index"), "--corpus", str(corpus))
    try:
        url = srv.wait_url()
        assert any("no index yet" in line for line in srv.output)
        got = Client(url, verbose=False).predict(
            "When was the Quillmarsh lighthouse rebuilt?", api_name="/ask"
        )
        assert not got["abstained"]
        assert got["citations"][0]["source"] == "lighthouse.txt"
        assert "1911" in got["answer"]
    finally:
        srv.stop()
    assert (tmp_path / "index").is_dir()


# -- pure helpers of the page -------------------------------------------------------------------
@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("report.txt", "report.txt"),
        ("../../etc/passwd.md", "passwd.md"),
        ("/abs/path/notes.HTML", "notes.html"),
        ("C:\\Users\\x\\brief.pdf", "brief.pdf"),
        ("..hidden.txt", "hidden.txt"),
        ("-rf.txt", "rf.txt"),
        ("a;b|c&d$(e)`f`.txt", "a_b_c_d_e_f.txt"),
        ("x/..txt", "upload.txt"),
        ("doc..v2...final.md", "doc.v2.final.md"),
        ("Überblick über Kyjiw.md", "Überblick_über_Kyjiw.md"),
    ],
)
def test_safe_filename(raw, expected):
    from ui.web import safe_filename

    assert safe_filename(raw) == expected


@pytest.mark.parametrize("raw", ["malware.exe", "noext", "../", "notes.txt.sh"])
def test_safe_filename_refuses_other_types(raw):
    from rag.errors import InputError
    from ui.web import safe_filename

    with pytest.raises(InputError, match="upload"):
        safe_filename(raw)


def test_save_upload_stays_inside_the_corpus(tmp_path):
    from rag.errors import InputError
    from ui.web import save_upload

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    outside = tmp_path / "outside.txt"
    outside.write_text("keep me", encoding="utf-8")
    src = tmp_path / "upload.bin"
    src.write_bytes(b"hello")

    p = save_upload(src, corpus, "../../outside.txt", 1000)
    assert p.parent == corpus.resolve() and p.name == "outside.txt"
    assert outside.read_text(encoding="utf-8") == "keep me"

    # the same bytes again reuse the file; different bytes get a new name
    assert save_upload(src, corpus, "outside.txt", 1000) == p
    src.write_bytes(b"other")
    assert save_upload(src, corpus, "outside.txt", 1000).name == "outside-1.txt"

    # a link planted at the name is never written through
    (corpus / "trap.txt").symlink_to(outside)
    q = save_upload(src, corpus, "trap.txt", 1000)
    assert q.name == "trap-1.txt" and outside.read_text(encoding="utf-8") == "keep me"

    with pytest.raises(InputError, match="over the limit"):
        save_upload(src, corpus, "big.txt", 2)
    names = sorted(x.name for x in corpus.iterdir())
    assert names == ["outside-1.txt", "outside.txt", "trap-1.txt", "trap.txt"]


def _answer(quote: str, passage: str, abstained: bool = False):
    from rag.types import Answer, Citation

    c = Citation(1, "<b>x</b>.txt", "<script>t()</script>", "2025-01-02", 5, 9, quote, passage, 0.5)
    text = "no" if abstained else f"{quote} [1]"
    return Answer('<img src=x onerror="q()">?', text, abstained, (c,))


def test_sources_html_escapes_everything_and_marks_the_quote():
    from ui.web import Turn, sources_html

    img = "<img src=x onerror=alert(1)>"
    a = _answer(f"Say {img}  now.", f"Before. Say {img} now. After.")
    out = sources_html([Turn(a.question, answer=a)])
    assert "<img" not in out and "<script" not in out and "<b>x" not in out
    assert "&lt;script&gt;t()&lt;/script&gt;" in out  # the title, as text
    assert "<mark>Say &lt;img src=x onerror=alert(1)&gt; now.</mark>" in out
    assert "&lt;img src=x onerror=&quot;q()&quot;&gt;?" in out  # the question


def test_abstention_is_labelled_not_an_answer():
    from ui.web import Turn, answer_message, sources_html

    a = _answer("Close.", "Very Close. Indeed.", abstained=True)
    out = sources_html([Turn(a.question, answer=a)])
    assert "not an answer" in out and "<mark>" not in out
    assert "Closest passages (not an answer)" in answer_message(a)


def test_chat_text_is_escaped_for_markdown():
    from ui.web import Turn, chat_messages

    a = _answer("A *bold* <script>x()</script> claim.", "A *bold* <script>x()</script> claim.")
    user, bot = chat_messages([Turn(a.question, answer=a)])
    assert "<img" not in user["content"] and "&lt;img" in user["content"]
    assert "<script" not in bot["content"] and "\\*bold\\*" in bot["content"]
    assert "**\\[1\\]**" in bot["content"]


def test_filters_from_the_page():
    from rag.errors import InputError
    from ui.web import make_filters

    f = make_filters(["a.txt"], " 2025-03-01 ", "")
    assert (f.sources, f.date_from, f.date_to) == (("a.txt",), "2025-03-01", None)
    with pytest.raises(InputError, match="'To' must be a date like"):
        make_filters(None, "", "March 2025")
    with pytest.raises(InputError, match="'From' must be a date like"):
        make_filters(None, "2025-02-30", "")
    with pytest.raises(InputError, match="the date range is empty"):
        make_filters(None, "2025-03-02", "2025-03-01")


def test_document_view_marks_the_quote_in_place_and_escapes_the_rest():
    from rag.errors import InputError
    from ui.web import document_html

    original = "Head <b>line</b>\nThe quay opened <i>today</i>.\nEnd."
    start = original.index("The quay")
    end = original.index(".\nEnd") + 1
    out = document_html(original, "a.txt", "<t>", start, end)
    assert "<mark>The quay opened &lt;i&gt;today&lt;/i&gt;.</mark>" in out
    assert "Head &lt;b&gt;line&lt;/b&gt;" in out and "End." in out and "&lt;t&gt;" in out
    with pytest.raises(InputError, match="not in a.txt"):
        document_html(original, "a.txt", "t", 10, 999)
    # a paged document shows the page the quote is on, with its number
    paged = "one\n\f\ntwo has the quote\n\f\nthree"
    starts = (0, 5, paged.index("three") - 1)
    out = document_html(paged, "r.pdf", "R", paged.index("the quote"), paged.index(" quote") + 6, starts)
    assert "page 2 of 3" in out and "one" not in out and "three" not in out
    assert "<mark>the quote</mark>" in out


def test_sources_that_differ_are_said_so_on_the_page():
    from rag.disagree import flag_disagreement
    from rag.types import Answer, Citation
    from ui.web import Turn, answer_message, sources_html

    cits = (
        Citation(1, "a.txt", "A", "2020-01-01", 0, 30, "Board chair Ann Lee spoke.", "p", 1.0),
        Citation(2, "b.txt", "B", "2024-01-01", 0, 30, "Board chair Bo Chen spoke.", "p", 1.0),
    )
    a = flag_disagreement(Answer("Who is the board chair?", "x", False, cits))
    assert a.disagreement is not None
    assert '<div class="differ">The sources differ: [1] (2024-01-01)' in sources_html(
        [Turn(a.question, answer=a)]
    )
    assert answer_message(a).startswith("**The sources differ: \\[1\\]")
    assert 'class="open-doc" data-source="b.txt"' in sources_html([Turn(a.question, answer=a)])
