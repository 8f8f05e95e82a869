"""The bench's parts on a tiny corpus: a smoke test, not a benchmark (no timing is asserted)."""

from __future__ import annotations

import filecmp

import pytest

from index.bench import (
    STAGES,
    RandomEmbedder,
    index_worker,
    parse_size,
    render,
    serve_worker,
    synth_corpus,
)
from rag.errors import InputError


def test_synthetic_corpus_is_repeatable_and_varied(tmp_path):
    a = synth_corpus(tmp_path / "a", chunks=30, seed=3)
    b = synth_corpus(tmp_path / "b", chunks=30, seed=3)
    files = [d.source for d in a.docs]
    assert files == [d.source for d in b.docs]
    assert all(filecmp.cmp(tmp_path / "a" / f, tmp_path / "b" / f, shallow=False) for f in files)
    assert len({d.place for d in a.docs}) == len(a.docs)  # one town per story
    sentences = [s for d in a.docs for s in d.text.split(". ")]
    assert len(set(sentences)) > 0.95 * len(sentences)


def test_sizes_parse_and_refuse_nonsense():
    assert parse_size("1k") == 1000 and parse_size("10k") == 10_000 and parse_size("250") == 250
    for bad in ("ten", "5", "-1k"):
        with pytest.raises(InputError):
            parse_size(bad)


def test_random_vectors_are_unit_length_and_stable():
    e = RandomEmbedder()
    v = e.embed(["a", "b", "a"])
    assert v.shape == (3, 384)
    assert abs(float((v * v).sum(axis=1).max()) - 1) < 1e-5
    assert (v[0] == v[2]).all() and not (v[0] == v[1]).all()


def test_bench_workers_measure_a_tiny_corpus(tmp_path, embedder):
    info = synth_corpus(tmp_path / "corpus", chunks=20, seed=1)
    ix = index_worker(tmp_path / "corpus", tmp_path / "index", "rag", fake=False, server_url=None)
    assert ix["docs"] == len(info.docs) and ix["chunks"] > 0 and ix["sentences"] > ix["chunks"]
    assert ix["raw_chunks_s"] > 0 and ix["model_s"] > 0
    assert ix["reindex_embedded"] == 0  # the second run found nothing to embed
    questions = [d.question for d in info.docs][:4]
    sv = serve_worker(tmp_path / "index", "rag", None, questions, warm=1)
    assert sv["questions"] == 4 and set(sv["ms"]) == set(STAGES)
    assert sv["chunks"] == ix["chunks"]
    text = render(
        {
            "machine": {"cpus": 2, "python": "3", "load_before": 0.0},
            "bundled": {},
            "sizes": {"20": {"index": ix, "embedded": sv}},
        }
    )
    assert "pipeline / raw" in text and "| 20 | " in text and "| embedded | 4 |" in text


def test_bench_command_refuses_a_bad_size(capsys):
    from ui.cli import main

    assert main(["bench", "--sizes", "1k,abc"]) == 2
    assert "--sizes" in capsys.readouterr().err
