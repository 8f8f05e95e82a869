"""The bench's parts on a tiny corpus: a smoke test, not a benchmark (no timing is asserted)."""

from __future__ import annotations

from bench.run import STAGES, RandomEmbedder, index_worker, render, serve_worker
from bench.synth import synth_corpus


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
