"""Faults: `rag serve` killed with SIGKILL while it indexes an upload and while it answers,
then restarted; and a disk that fills up under the index. Nothing committed before a fault is
lost, the interrupted document is either whole or absent (and whole after a re-run), and the
index answers as before."""

from __future__ import annotations

import json
import os
import random
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from index.build import build_index, open_store, segment, versioned
from index.service import open_index
from rag.embed import model_dir
from rag.errors import IndexCorruptError
from rag.load import load_document
from rag.settings import Settings
from tests.index.records import chroma_records
from tests.ui.serving import ROOT, Server, ask, upload

pytestmark = pytest.mark.slow

QUESTION = "Who rejected the 30-day ceasefire proposal?"
BIG_FACT = "When was the Brimwater sluice gate replaced?"


def _report(kib: int) -> str:
    """A long council report with one findable fact; long enough that indexing takes a while."""
    r = random.Random(kib)
    words = "council harbour budget survey river school road tender contract repair study".split()
    paras = ["Brimwater district report\n", "The Brimwater sluice gate was replaced in 1977."]
    while sum(len(p) for p in paras) < kib * 1024:
        paras.append(" ".join(
            f"Item {r.randint(1, 9999)} on the {r.choice(words)} {r.choice(words)} was discussed "
            f"for {r.randint(2, 90)} minutes." for _ in range(6)
        ))
    return "\n\n".join(paras) + "\n"


def records(index_dir: Path) -> dict[tuple[str, str], int]:
    return chroma_records(index_dir, timeout=30)


def committed(index_dir: Path) -> set[str]:
    return {s for (kind, s) in records(index_dir) if kind == "docs"}


def clean_counts(settings: Settings, path: Path, source: str) -> dict[str, int]:
    """Records a clean index of this one file holds."""
    doc = versioned(load_document(path, source, settings.max_file_bytes), settings)
    return {"docs": 1, "chunks": len(segment(doc, model_dir(), settings).chunks)}


def same(a: dict, b: dict) -> bool:  # type: ignore[type-arg]
    """The same answer: text and cited places (scores move a little when documents are added)."""
    def key(d: dict) -> tuple:  # type: ignore[type-arg]
        return d["answer"], [(c["source"], c["start"], c["end"]) for c in d["citations"]]

    return key(a) == key(b)


def of(recs: dict[tuple[str, str], int], source: str) -> dict[str, int]:
    return {k: recs.get((k, source), 0) for k in ("docs", "chunks")}


class Askers:
    """Clients asking without pause until stopped; connection errors are expected once the
    server is killed, so they are counted, not raised."""

    def __init__(self, server: Server, n: int) -> None:
        self.server, self.stop_flag = server, threading.Event()
        self.answered = 0
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run) for _ in range(n)]

    def _run(self) -> None:
        with self.server.client(timeout=30) as http:
            while not self.stop_flag.is_set():
                try:
                    ask(http, QUESTION)
                    with self.lock:
                        self.answered += 1
                except Exception:  # noqa: BLE001 - the server is being killed under us
                    time.sleep(0.05)

    def __enter__(self) -> Askers:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop_flag.set()
        for t in self.threads:
            t.join(60)


def test_kill_9_while_indexing_an_upload_and_while_answering(built, tmp_path):
    corpus, index_dir = tmp_path / "corpus", tmp_path / "index"
    shutil.copytree(built.corpus_dir, corpus)
    shutil.copytree(built.index_dir, index_dir)
    settings = Settings.from_env({}, index_dir=index_dir, corpus_dir=corpus)
    small = tmp_path / "small-note.txt"
    small.write_text("Ferry notes\n\nThe Orrin ferry sails at dawn from Kelda.\n", encoding="utf-8")
    big = tmp_path / "brimwater.txt"
    # over 250 chunks: the store writes them in two calls before the commit record, so the
    # kill below can land between a document's records and its commit
    big.write_text(_report(kib=190), encoding="utf-8")
    want = clean_counts(settings, big, big.name)
    assert want["chunks"] > 250, want
    figures: dict[str, object] = {"big_file_clean_records": want}

    server = Server(index_dir, corpus)
    server.start()
    try:
        with server.client() as http:
            ask(http, QUESTION)  # loads the model
            assert upload(http, small).startswith("Added 1 file")
            expected = ask(http, QUESTION)
        before = committed(index_dir)
        assert small.name in before and len(before) == 6

        # kill 1: questions in flight, and the big upload being indexed; the kill lands as
        # soon as the first of its records is in the store, before its commit record if we
        # are quick enough (either way the rules below must hold)
        seen_progress = threading.Event()
        status: list[str] = []

        def do_upload() -> None:
            try:
                with server.client(timeout=600) as http:
                    status.append(upload(
                        http, big,
                        on_message=lambda m: seen_progress.set() if m.get("msg") == "progress" else None,
                    ))
            except Exception as e:  # noqa: BLE001 - the server dies under it
                status.append(f"{type(e).__name__}")

        with Askers(server, 6) as askers:
            up = threading.Thread(target=do_upload)
            up.start()
            assert seen_progress.wait(120), "indexing never started"
            deadline = time.monotonic() + 300
            while not status and time.monotonic() < deadline:
                try:
                    if sum(of(records(index_dir), big.name).values()):
                        break
                except sqlite3.Error:
                    pass  # locked by the writer for a moment
                time.sleep(0.01)
            server.kill9()
            up.join(60)
            figures["answered_before_kill_1"] = askers.answered
        at_kill = of(records(index_dir), big.name)
        figures["big_file_records_at_kill_1"] = at_kill
        figures["kill_1_landed"] = (
            "after the upload finished" if status and status[0].startswith("Added")
            else "before any record" if not sum(at_kill.values())
            else "after its commit" if at_kill["docs"]
            else "between its records and its commit"
        )
        # whole or absent: a commit record means every record is there
        if at_kill["docs"]:
            assert at_kill == want, at_kill
        assert before <= committed(index_dir)

        # restart: the same answer, nothing committed lost, the interrupted file never cited
        server.start()
        with server.client() as http:
            assert same(ask(http, QUESTION), expected)
            got = ask(http, BIG_FACT)
            cited = {c["source"] for c in got["citations"]}
            assert (big.name in cited) == bool(at_kill["docs"]), got
            # kill 2: while answering
            with Askers(server, 8) as askers:
                time.sleep(3)
                assert askers.answered > 0
                server.kill9()
        assert before <= committed(index_dir)
        assert of(records(index_dir), big.name) == at_kill

        # restart, and upload the interrupted file again: now it is whole, exactly once
        server.start()
        with server.client(timeout=600) as http:
            assert same(ask(http, QUESTION), expected)
            again = upload(http, big)
            assert again.startswith("Added 1 file"), again
            got = ask(http, BIG_FACT)
            assert not got["abstained"] and big.name in {c["source"] for c in got["citations"]}
    finally:
        server.stop()
    recs = records(index_dir)
    assert of(recs, big.name) == want
    assert committed(index_dir) == before | {big.name}
    # no leftovers of the killed run: every record belongs to a committed document version
    store = open_store(settings)
    docs = store.documents()
    counts = store.counts()
    assert counts == {"docs": len(docs), "chunks": sum(d.chunks for d in docs)}
    assert len(store.all_sentences()) == sum(d.sentences for d in docs)
    figures["faults_survived"] = 2
    out = ROOT / "test-output"
    out.mkdir(exist_ok=True)
    (out / "faults.json").write_text(json.dumps(figures, indent=1), encoding="utf-8")
    print(json.dumps(figures, indent=1))


# -- a full disk --------------------------------------------------------------------------------
def _mount_tmpfs(folder: Path, mb: int) -> bool:
    folder.mkdir(parents=True, exist_ok=True)
    if os.geteuid() != 0:
        return False
    r = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={mb}m", "tmpfs", str(folder)], capture_output=True
    )
    return r.returncode == 0


def _fill(folder: Path, leave: int) -> Path:
    """Write a ballast file so that only about ``leave`` bytes stay free."""
    st = os.statvfs(folder)
    ballast = folder / "ballast"
    with open(ballast, "wb") as f:
        f.write(b"\0" * max(0, st.f_bavail * st.f_frsize - leave))
    return ballast


def test_a_full_disk_is_a_clear_error_and_the_index_recovers(built, embedder, tmp_path):
    disk = tmp_path / "disk"
    if not _mount_tmpfs(disk, 48):
        pytest.skip("cannot mount a small tmpfs here (needs root); the read-only case is in test_bad_inputs.py")
    try:
        index_dir = disk / "index"
        shutil.copytree(built.index_dir, index_dir)
        corpus = tmp_path / "corpus"
        shutil.copytree(built.corpus_dir, corpus)
        (corpus / "brimwater.txt").write_text(_report(kib=8), encoding="utf-8")
        settings = Settings.from_env({}, index_dir=index_dir, corpus_dir=corpus)
        want = clean_counts(settings, corpus / "brimwater.txt", "brimwater.txt")
        before_recs = records(index_dir)
        expected = open_index(built, embedder=embedder).ask(QUESTION).to_dict()

        # nearly full: refused before anything is written
        ballast = _fill(disk, leave=4_000_000)
        with pytest.raises(IndexCorruptError, match="nearly full"):
            build_index(settings, embedder=embedder)
        # (opening a Chroma folder rewrites some of its files, so records are compared, not bytes)
        assert records(index_dir) == before_recs

        # full for real (the free-space check switched off): Chroma's own write fails; a CLI
        # run ends with a clear message, and the next process finds the index as it was
        ballast.unlink()
        ballast = _fill(disk, leave=40_000)
        code = (
            "import sys, index.build as b; b._check_space = lambda *a: None; "
            "from ui.cli import main; sys.exit(main(sys.argv[1:]))"
        )
        run = subprocess.run(
            [sys.executable, "-c", code, "--index-dir", str(index_dir), "--corpus", str(corpus), "index"],
            cwd=ROOT, capture_output=True, text=True, timeout=600,
        )
        assert run.returncode == 2, run.stderr[-2000:]
        assert "is full" in run.stderr and "Traceback" not in run.stderr
        after = records(index_dir)
        assert {k: v for k, v in after.items() if k[1] != "brimwater.txt"} == before_recs
        assert of(after, "brimwater.txt")["docs"] == 0 or of(after, "brimwater.txt") == want
        ballast.unlink()
        assert open_index(settings, embedder=embedder).ask(QUESTION).to_dict() == expected

        # space again: the rerun completes it exactly
        report = build_index(settings, embedder=embedder)
        assert report.added == ["brimwater.txt"] or of(after, "brimwater.txt")["docs"]
        assert of(records(index_dir), "brimwater.txt") == want
        store = open_store(settings)
        docs = store.documents()
        assert store.counts()["chunks"] == sum(d.chunks for d in docs)
        assert len(store.all_sentences()) == sum(d.sentences for d in docs)
        a = open_index(settings, embedder=embedder).ask(BIG_FACT)
        assert not a.abstained and a.citations[0].source == "brimwater.txt"
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True)
