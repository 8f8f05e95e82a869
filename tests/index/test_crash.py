"""A real `rag index` child process stopped part-way, by Ctrl-C and by `kill -9`: the index
still opens and answers from what was committed, and the next run completes it exactly."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.synth import synth_corpus
from index.build import build_index, open_store
from index.service import open_index
from rag.load import iter_files
from rag.settings import Settings
from tests.conftest import ROOT
from tests.index.records import check_records, chroma_records

pytestmark = pytest.mark.slow


def committed_docs(index_dir: Path) -> int:
    """Commit records in the docs collection as Chroma will see them on its next open (its log
    included), read with plain SQL, without a second Chroma client on a folder another process
    is writing."""
    if not (index_dir / "chroma" / "chroma.sqlite3").is_file():
        return 0
    try:
        recs = chroma_records(index_dir, timeout=0.2)
    except sqlite3.Error:
        return 0  # not created yet, or locked by the writer for a moment
    return sum(n for (kind, _), n in recs.items() if kind == "docs")


def index_until(corpus: Path, index_dir: Path, at_least: int, sig: int) -> tuple[int, str]:
    """Run `rag index` as a child process; send ``sig`` once ``at_least`` documents are committed.
    Returns the child's exit status and its stderr."""
    env = {**os.environ, "RAG_BATCH_SIZE": "1"}  # groups of 32 chunks: several commits in one run
    child = subprocess.Popen(
        [sys.executable, "-m", "ui.cli", "--index-dir", str(index_dir), "index", str(corpus)],
        cwd=ROOT,
        env=env,
        # Ctrl-C as a terminal delivers it: a test run started in the background (`make test &`)
        # has SIGINT ignored, and a child would inherit that and rightly keep ignoring it
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 240
        while committed_docs(index_dir) < at_least:
            assert child.poll() is None, (
                f"the child ended before it was stopped: {child.stderr.read()}"
            )  # type: ignore[union-attr]
            assert time.monotonic() < deadline, "no commit within 240 s"
            time.sleep(0.05)
        child.send_signal(sig)
        _, err = child.communicate(timeout=60)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    return child.returncode, err


def test_interrupted_indexing_still_answers_and_rerun_completes(tmp_path, embedder):
    corpus = tmp_path / "corpus"
    info = synth_corpus(corpus, chunks=130, seed=7)
    total = len(info.docs)
    assert total >= 10
    index_dir = tmp_path / "index"
    settings = Settings.from_env({}, index_dir=index_dir, corpus_dir=corpus)

    # Ctrl-C after the first commit: a clean message, no traceback, exit 130
    code, err = index_until(corpus, index_dir, 1, signal.SIGINT)
    assert code == 130, err
    assert ("interrupted" in err or "aborted" in err) and "Traceback" not in err
    after_int = committed_docs(index_dir)
    assert 1 <= after_int < total

    # kill -9 after at least one more commit
    code, _ = index_until(corpus, index_dir, after_int + 1, signal.SIGKILL)
    assert code == -signal.SIGKILL
    after_kill = committed_docs(index_dir)
    assert after_int < after_kill < total, "the run finished before it was killed"

    # the index opens and answers from what was committed, and only from that
    idx = open_index(settings, embedder=embedder)
    committed = {d.source for d in idx.documents()}
    assert len(committed) == after_kill
    by_source = {d.source: d for d in info.docs}
    done = sorted(committed)[0]
    a = idx.ask(by_source[done].question)
    assert not a.abstained, a.answer
    assert {c.source for c in a.citations} == {done}
    missing = sorted(set(by_source) - committed)
    for source in missing[:3]:
        a = idx.ask(by_source[source].question)
        assert {c.source for c in a.citations} <= committed

    # the rerun embeds only what is missing and leaves exactly what a clean build would
    report = build_index(settings, embedder=embedder)
    assert sorted(report.added) == missing
    assert report.updated == [] and report.removed == []
    assert len(report.unchanged) == after_kill
    check_records(settings, corpus)
    assert open_store(settings).counts()["docs"] == total == len(list(iter_files(corpus)))
    idx.refresh(force=True)
    a = idx.ask(by_source[missing[-1]].question)
    assert not a.abstained and {c.source for c in a.citations} == {missing[-1]}
