"""The learned reader's feature rows and its stored logistic models (pure logic)."""

from __future__ import annotations

import json
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pytest

from rag.answer import Candidate, score_candidates
from rag.errors import RagError
from rag.features import (
    FIRST_FEATURES,
    MODELS_FILE,
    READ_FEATURES,
    Logistic,
    ReaderModels,
    candidate_rows,
    load_models,
    read_rows,
)


def _cand(i: int, text: str, v: list[float]) -> Candidate:
    return Candidate(
        id=f"s{i}", source="a.txt", title="T", date=None, text=text, start=i * 100,
        end=i * 100 + len(text), index=i, vector=np.asarray(v, dtype=np.float32),
        passage=text, passage_score=1.0 - i / 10,
    )


CANDS = [
    _cand(0, "The bridge opened to traffic in 1932.", [0.8, 0.6, 0.0]),
    _cand(1, "It carries rail, vehicles and pedestrians.", [1.0, 0.0, 0.0]),
]
QVEC = np.asarray([1.0, 0.0, 0.0], dtype=np.float32)
WORDS = {"bridge", "opened", "traffic", "carries", "rail", "vehicles", "pedestrians", "year"}


def _rows(question: str, knows=lambda t: t in WORDS) -> tuple[list, np.ndarray]:
    ranked = score_candidates(question, QVEC, CANDS, lambda t: 1.0)
    return ranked, candidate_rows(question, ranked, knows)


def col(name: str) -> int:
    return FIRST_FEATURES.index(name)


def test_one_row_per_candidate_with_its_signals_and_its_place_among_the_others():
    ranked, rows = _rows("In what year did the bridge open?")
    assert rows.shape == (2, len(FIRST_FEATURES))
    by_text = {s.cand.text: r for s, r in zip(ranked, rows, strict=True)}
    dated, other = by_text[CANDS[0].text], by_text[CANDS[1].text]
    assert dated[col("asks_date")] == 1.0 and dated[col("asks_person")] == 0.0
    assert dated[col("typed")] == 1.0 and other[col("typed")] == 0.0  # 1932 is a date
    assert dated[col("cosine")] == pytest.approx(0.8)
    assert other[col("cosine_gap")] == 0.0 and dated[col("cosine_gap")] == pytest.approx(0.2)
    assert other[col("cosine_rank")] == 1.0 and dated[col("cosine_rank")] == 0.5
    assert other[col("needs_previous")] == 1.0  # "It carries ...": leans on the one before
    assert dated[col("coverage")] > other[col("coverage")]


def test_late_interaction_scores_become_values_a_gap_and_a_rank():
    ranked = score_candidates("When did the bridge open?", QVEC, CANDS, lambda t: 1.0)
    rows = candidate_rows("When did the bridge open?", ranked, WORDS.__contains__, None,
                          (np.asarray([0.3, 0.7]), np.asarray([0.1, 0.6])))
    assert rows[:, col("late")].tolist() == [0.3, 0.7]
    assert rows[:, col("late_least")].tolist() == [0.1, 0.6]
    assert rows[:, col("late_gap")] == pytest.approx([0.4, 0.0])
    assert rows[:, col("late_rank")].tolist() == [0.5, 1.0]
    # without word pieces (an embedder that gives none) the columns are flat
    flat = candidate_rows("When did the bridge open?", ranked, WORDS.__contains__)
    assert flat[:, col("late")].tolist() == [0.0, 0.0] and flat[:, col("late_gap")].tolist() == [0.0, 0.0]


def test_a_question_that_asks_no_kind_marks_no_sentence_typed():
    _, rows = _rows("Tell me about the bridge")
    assert rows[:, col("typed")].tolist() == [0.0, 0.0]
    assert all(rows[:, col(f"asks_{k}")].sum() == 0 for k in ("number", "date", "place", "person"))


def test_names_the_documents_never_mention_are_a_feature_not_a_veto():
    _, rows = _rows("When did Brunel open the bridge?")
    assert (rows[:, col("unknown_name")] == 1.0).all()
    _, rows = _rows("When did the bridge open?")
    assert (rows[:, col("unknown_name")] == 0.0).all()


def test_read_rows_add_the_logit_and_span_score_with_their_distances_to_the_best():
    _, rows = _rows("When did the bridge open?")
    r = read_rows(rows, np.asarray([1.5, -0.5]), np.asarray([-1.0, 2.0]))
    assert r.shape == (2, len(READ_FEATURES))
    assert r[:, -4].tolist() == [1.5, -0.5] and r[:, -3].tolist() == [0.0, 2.0]
    assert r[:, -2].tolist() == [-1.0, 2.0] and r[:, -1].tolist() == [3.0, 0.0]
    # a cross-encoder without a span head: its columns are zeros
    assert read_rows(rows, np.asarray([1.5, -0.5]))[:, -2:].tolist() == [[0.0, 0.0]] * 2


def test_logistic_standardises_then_weighs():
    m = Logistic(("a", "b"), (1.0, 0.0), (2.0, 1.0), (4.0, 0.0), -1.0)
    p = m.probabilities(np.asarray([[3.0, 9.0], [1.0, -9.0]]))
    assert p == pytest.approx([1 / (1 + np.exp(-3.0)), 1 / (1 + np.exp(1.0))])
    assert m.probabilities(np.zeros((0, 2))).shape == (0,)


def test_the_shipped_models_load_and_say_how_they_were_made():
    m = load_models()
    assert m.first.features == FIRST_FEATURES and m.read.features == READ_FEATURES
    assert 0.0 < m.threshold < 1.0 and m.read_top >= 1
    t = m.training
    assert t["command"].startswith("python -m eval.fit") and len(t["data_sha256"]) == 3
    assert t["out_of_fold"]["questions"] > 1000


def test_models_fitted_on_other_features_are_refused(tmp_path: Path):
    raw = asdict(load_models())
    raw["read"]["features"] = raw["read"]["features"][:-1]
    bad = tmp_path / "combiner.json"
    bad.write_text(json.dumps(raw))
    with pytest.raises(RagError, match="fitted on other features"):
        load_models(bad)
    with pytest.raises(RagError, match="python -m eval.fit"):
        load_models(tmp_path / "missing.json")


def test_saving_writes_what_loading_reads(tmp_path: Path):
    m = replace(load_models(), threshold=0.25)
    m.save(tmp_path / "combiner.json")
    assert load_models(tmp_path / "combiner.json") == m
    assert MODELS_FILE.name == "combiner.json"
    assert isinstance(m, ReaderModels)
