"""Server mode against a real `chroma run` on a free loopback port: the same answers as the
embedded folder on the whole Q&A set, a BM25 cache per client keyed by the index's content,
and a clear error (then recovery) when the server goes away."""

from __future__ import annotations

import json

import pytest

from bench.run import ChromaServer
from index.build import build_index, fingerprint
from index.service import open_index
from rag.errors import StoreUnavailableError
from rag.load import iter_files
from tests.conftest import QA_FILE

pytestmark = pytest.mark.server


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("chroma-server")
    srv = ChromaServer(root / "data", root / "server.log")
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture(scope="module")
def served(server, built, embedder, tmp_path_factory):
    """The bundled corpus indexed into the server; this client's BM25 cache in its own folder."""
    settings = built.with_(chroma_url=server.url, index_dir=tmp_path_factory.mktemp("client-a"))
    report = build_index(settings, embedder=embedder)
    assert sorted(report.added) == sorted(rel for _, rel in iter_files(built.corpus_dir))
    return settings


def test_server_answers_every_question_like_the_embedded_folder(served, index, embedder):
    remote = open_index(served, embedder=embedder)
    assert [(d.source, d.content_hash, d.chunks, d.sentences) for d in remote.documents()] == [
        (d.source, d.content_hash, d.chunks, d.sentences) for d in index.documents()
    ]
    qa = [json.loads(x) for x in QA_FILE.read_text(encoding="utf-8").splitlines() if x.strip()]
    differ = []
    for q in qa:
        here, there = index.ask(q["question"]).to_dict(), remote.ask(q["question"]).to_dict()
        if not same(here, there):
            differ.append((q["id"], here, there))
    assert not differ, f"{len(differ)} of {len(qa)} answers differ: {differ[:2]}"


def same(a, b) -> bool:
    """Equal, but for figures within one unit of their 4th decimal: the two indexes reach
    their figures by different paths (the server's HTTP answers, the folder's own files), and
    on some CPUs floating-point sums differ in their last bits with the shapes summed, enough
    to round a figure the other way (seen once in CI, on q002's figures)."""
    if isinstance(a, float) and isinstance(b, float):
        return abs(a - b) <= 1.5e-4
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


def test_same_allows_rounding_only_in_figures():
    assert same({"p": 0.5001, "q": ["a", 0.2]}, {"p": 0.5, "q": ["a", 0.2001]})
    assert not same({"p": 0.5003}, {"p": 0.5})
    assert not same({"q": ["a", 0.2]}, {"q": ["b", 0.2]})
    assert not same({"n": 1}, {"n": 2})


def test_each_client_caches_bm25_by_content_and_rebuilds_only_on_change(
    served, embedder, tmp_path, monkeypatch
):
    import index.build as build

    client_b = served.with_(index_dir=tmp_path / "client-b")
    idx = open_index(client_b, embedder=embedder)
    fp = fingerprint(idx.documents())
    assert [p.name for p in (tmp_path / "client-b" / "lexical").iterdir()] == [fp]

    def no_rebuild(*a, **kw):  # type: ignore[no-untyped-def]
        raise AssertionError("the BM25 index was rebuilt although the shared index did not change")

    with monkeypatch.context() as m:
        m.setattr(build.LexicalIndex, "build", no_rebuild)
        again = open_index(client_b, embedder=embedder)
        assert len(again.lexical.ids) == sum(d.chunks for d in again.documents())

    # another client adds a document to the shared index; this one picks it up and rebuilds once
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "harbour.txt").write_text(
        "Port of Kelmsund records a quiet winter\n\n"
        "The Port of Kelmsund handled 3,870 container ships in 2024, its lowest count in a decade.\n"
        "Harbour master Edda Vik blamed the closure of the northern canal for the fall.\n",
        encoding="utf-8",
    )
    try:
        report = build_index(served, [extra], embedder=embedder, prune=False)
        assert report.added == ["harbour.txt"]
        idx.refresh(force=True)
        fp2 = fingerprint(idx.documents())
        assert fp2 != fp
        assert [p.name for p in (tmp_path / "client-b" / "lexical").iterdir()] == [fp2]
        hits = idx.retrieve("Kelmsund container ships", k=3, mode="lexical")
        assert hits and hits[0][0].source == "harbour.txt"
    finally:
        build_index(served, embedder=embedder)  # the bundled corpus again, without harbour.txt
    assert "harbour.txt" not in {
        d.source for d in open_index(served, embedder=embedder).documents()
    }


def test_a_stopped_server_is_a_clear_error_and_a_restart_recovers(
    served, server, index, embedder, capsys
):
    from ui.cli import main

    question = "Who rejected the 30-day ceasefire proposal?"
    remote = open_index(served, embedder=embedder)
    expected = index.ask(question).to_dict()
    assert same(remote.ask(question).to_dict(), expected)
    server.stop()
    try:
        with pytest.raises(StoreUnavailableError) as err:
            remote.ask(question)
        assert server.url in str(err.value) and "cannot be reached" in str(err.value)
        with pytest.raises(StoreUnavailableError):
            open_index(served, embedder=embedder)
        capsys.readouterr()
        code = main(
            ["--chroma-url", server.url, "--index-dir", str(served.index_dir), "ask", question]
        )
        out = capsys.readouterr()
        assert (
            code == 2
            and out.err.startswith("error: the Chroma server at")
            and "Traceback" not in out.err
        )
    finally:
        server.start()  # same port, same folder
    assert same(remote.ask(question).to_dict(), expected)
    assert same(open_index(served, embedder=embedder).ask(question).to_dict(), expected)
