"""A question never waits for a reload of the index: a due reload runs behind the questions,
which answer from one snapshot of the corpus (real model, real Chroma in a temp folder)."""

from __future__ import annotations

import shutil
import threading
import time

import pytest

from index.build import build_index
from index.service import open_index
from rag.settings import Settings
from tests.conftest import CORPUS

FACT = """Harrowgate tide mill report

The Harrowgate tide mill on the Ulvmor estuary was restored in 1983 by a volunteer trust.
The trust now opens the mill to visitors on the first Sunday of each month.
"""
QUESTION = "When was the Harrowgate tide mill restored?"


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
    assert "mill.txt" not in {d.source for d in idx.documents()}
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
