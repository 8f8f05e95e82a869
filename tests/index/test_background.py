"""Questions before background work: uploads and reloads run on threads of their own at a lower
CPU priority, and a question never waits for a reload of the index (real model, real Chroma in
a temp folder)."""

from __future__ import annotations

import os
import shutil
import sys
import threading
import time

import pytest

from index.background import BACKGROUND_NICE, run_behind, start_behind
from index.build import build_index
from index.service import open_index
from rag.settings import Settings
from tests.conftest import CORPUS

FACT = """Harrowgate tide mill report

The Harrowgate tide mill on the Ulvmor estuary was restored in 1983 by a volunteer trust.
The trust now opens the mill to visitors on the first Sunday of each month.
"""
QUESTION = "When was the Harrowgate tide mill restored?"


def _nice() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


def test_run_behind_relays_progress_to_the_caller_and_returns_the_result():
    caller = threading.get_ident()
    seen: list[tuple[int, int, str, bool]] = []

    def work(step):  # type: ignore[no-untyped-def]
        for i in range(3):
            step(i, 3, f"file{i}")
        return threading.get_ident()

    worker = run_behind(work, lambda i, n, s: seen.append((i, n, s, threading.get_ident() == caller)))
    assert worker != caller  # the work ran on another thread
    assert seen == [(0, 3, "file0", True), (1, 3, "file1", True), (2, 3, "file2", True)]


def test_run_behind_raises_the_work_s_exception_in_the_caller():
    def work(step):  # type: ignore[no-untyped-def]
        step(0, 1, "x")
        raise ValueError("bad file")

    with pytest.raises(ValueError, match="bad file"):
        run_behind(work, lambda i, n, s: None)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice is Linux's")
def test_background_threads_run_at_a_lower_priority_and_the_caller_keeps_its_own():
    before = _nice()
    got: list[int] = []
    start_behind(lambda: got.append(_nice()), "probe").join(10)
    inside = run_behind(lambda step: _nice(), lambda i, n, s: None)
    assert got == [min(19, before + BACKGROUND_NICE)] and inside == got[0]
    assert _nice() == before


@pytest.fixture()
def served(tmp_path, embedder):
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    settings = Settings.from_env({}, index_dir=tmp_path / "index", corpus_dir=corpus)
    build_index(settings, embedder=embedder)
    idx = open_index(settings, embedder=embedder)
    idx.refresh_seconds = 0.0  # every question checks for changes
    return corpus, settings, idx


def _ask_in_thread(idx, question: str, seconds: float):  # type: ignore[no-untyped-def]
    out: list[object] = []
    t = threading.Thread(target=lambda: out.append(idx.ask(question)), daemon=True)
    t.start()
    t.join(seconds)
    return out[0] if out else None


def test_a_question_is_answered_while_a_reload_holds_the_index(served):
    _, _, idx = served
    idx.ask("Who rejected the 30-day ceasefire proposal?")  # the model is loaded
    with idx._lock:  # a reload is running (as the one an upload's last step forces)
        a = _ask_in_thread(idx, "Who rejected the 30-day ceasefire proposal?", 30)
    assert a is not None, "the question waited for the reload"
    assert not a.abstained  # type: ignore[attr-defined]


def test_a_new_document_is_picked_up_behind_the_questions(served, embedder):
    corpus, settings, idx = served
    assert QUESTION and "Harrowgate" not in {d.source for d in idx.documents()}
    (corpus / "mill.txt").write_text(FACT, encoding="utf-8")
    build_index(settings, [corpus / "mill.txt"], embedder=embedder, prune=False)
    # the first question after the change starts the reload; answers use one snapshot each,
    # so any answer either cites the new document with its fact or does not cite it at all
    deadline = time.monotonic() + 60
    while True:
        a = idx.ask(QUESTION)
        sources = {c.source for c in a.citations}
        if "mill.txt" in sources:
            assert not a.abstained and "1983" in a.answer, a.answer
            break
        assert time.monotonic() < deadline, "the new document was never picked up"
        time.sleep(0.2)
    assert "mill.txt" in {d.source for d in idx.documents()}
