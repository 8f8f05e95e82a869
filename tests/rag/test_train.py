"""The reader's training and fitting scripts end to end on a sliver of SQuAD-shifts (skipped
without it)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from tests.conftest import TRAINING_DATA, needs_training_data

DATA = TRAINING_DATA


@pytest.mark.slow
@needs_training_data
def test_training_writes_a_model_the_reader_loads(tmp_path: Path) -> None:
    from rag.crossencoder import CrossEncoder
    from rag.train import main

    out = tmp_path / "reader"
    main(["--data", str(DATA), "--out", str(out), "--layers", "1", "--questions", "12",
          "--draws", "18", "--held-questions", "12", "--seed", "3", "--device", "cpu",
          "--titles"])
    cfg = json.loads((out / "config.json").read_text())
    assert cfg["layers"] == 1 and cfg["training"]["seed"] == 3
    # one run going round its first 12 questions' paragraphs: those are what it trained on
    assert cfg["training"]["trained_questions"] == 12 and cfg["training"]["draws"] == 18
    assert set(cfg["training"]["data_sha256"]) == {
        "new_wiki_v1.0.json", "reddit_v1.0.json", "amazon_reviews_v1.0.json"
    }
    assert 0.0 < cfg["threshold"] < 1.0 and cfg["training"]["held_out"]["questions"] == 12
    enc = CrossEncoder(out)
    logits = enc.logits("Who won?", [("Smith won the race.", None), ("It rained.", "Smith won.")])
    assert logits.shape == (2,)
    # it reads each sentence's document title: another title, another logit
    assert cfg["title_tokens"] == 12
    pair = [("Smith won the race.", None)]
    assert enc.logits("Who won?", pair, ["Tour de France"]) != enc.logits("Who won?", pair, ["Rain"])

    # trained further: same seed and shape, the stage recorded beside the first
    more = tmp_path / "more"
    main(["--data", str(DATA), "--out", str(more), "--continue-from", str(out),
          "--questions", "6", "--held-questions", "12"])
    cfg2 = json.loads((more / "config.json").read_text())
    assert cfg2["layers"] == 1 and cfg2["training"]["seed"] == 3
    assert cfg2["title_tokens"] == 12  # a continued reader keeps reading titles
    assert cfg2["training"]["trained_questions"] == 12
    assert [c["questions"] for c in cfg2["training"]["continued"]] == [6]
    assert "--continue-from" in cfg2["training"]["continued"][0]["command"]

    # a further pass with swapped names, grown by a layer, then measured without writing
    again = tmp_path / "again"
    main(["--data", str(DATA), "--out", str(again), "--continue-from", str(more),
          "--questions", "6", "--held-questions", "12", "--again", "--swap", "--layers", "2",
          "--mine", "2"])
    cfg3 = json.loads((again / "config.json").read_text())
    assert [c["questions"] for c in cfg3["training"]["continued"]] == [6, 6]
    assert "--swap" in cfg3["training"]["continued"][1]["command"]
    assert "--mine 2" in cfg3["training"]["continued"][1]["command"]
    assert cfg3["layers"] == 2 and cfg3["training"]["continued"][1]["layers"] == 2
    assert CrossEncoder(again).logits("Who won?", [("Smith won the race.", None)]).shape == (1,)
    assert not cfg3["span_head"]

    # a span head added to a continued model: it reads a span score beside the logit
    spans = tmp_path / "spans"
    main(["--data", str(DATA), "--out", str(spans), "--continue-from", str(again),
          "--questions", "6", "--held-questions", "12", "--again", "--span"])
    cfg4 = json.loads((spans / "config.json").read_text())
    assert cfg4["span_head"] and cfg4["training"]["continued"][-1]["span_head"] == "added"
    assert "span_best_sentence_right" in cfg4["training"]["held_out"]
    seen = CrossEncoder(spans).read("Who won?", [("Smith won the race.", None), ("It rained.", None)])
    assert seen.logits.shape == seen.spans.shape == (2,) and np.isfinite(seen.spans).all()
    # groups recorded from the pipeline dealt in, one of them a question with no answer
    recorded = tmp_path / "groups.json"
    recorded.write_text(json.dumps([
        {"q": "Who won?", "kind": "squad", "pairs": [["Smith won.", None], ["It rained.", None]],
         "labels": [1.0, 0.0], "titles": ["The race", "Weather"]},
        {"q": "Who lost?", "kind": "left-out", "pairs": [["It rained.", None]], "labels": [0.0]},
    ]))
    piped = tmp_path / "piped"
    main(["--data", str(DATA), "--out", str(piped), "--continue-from", str(spans),
          "--questions", "4", "--held-questions", "12", "--again",
          "--pipeline-groups", str(recorded)])
    cfg5 = json.loads((piped / "config.json").read_text())
    assert "--pipeline-groups" in cfg5["training"]["continued"][-1]["command"]
    assert cfg5["training"]["continued"][-1]["steps"] == 1  # 4 drawn and 2 recorded, 6 a step
    assert cfg5["training"]["continued"][-1]["recorded_groups"] == 2
    with pytest.raises(SystemExit):
        main(["--data", str(DATA), "--out", str(tmp_path / "no"), "--continue-from", str(spans),
              "--again", "--mine", "2", "--pipeline-groups", str(recorded)])
    with pytest.raises(SystemExit):
        main(["--data", str(DATA), "--out", str(tmp_path / "no"), "--continue-from", str(spans),
              "--again", "--pipeline-groups", str(tmp_path / "none.json")])
    measured = tmp_path / "measured"
    main(["--data", str(DATA), "--out", str(measured), "--continue-from", str(again),
          "--held-questions", "12", "--measure-only"])
    assert not measured.exists()


def _first_trained() -> tuple[list[Any], set[int], list[Any], dict[str, int]]:
    """100 questions over 10 paragraphs (one held out), and the 5 a model first trained on."""
    import random

    from rag.train import Question, trained_questions

    qs = [Question(f"q{i}", i % 10, frozenset({0})) for i in range(100)]
    held = {9}
    first = trained_questions(qs, held, random.Random(4), 5)
    return qs, held, first, {"seed": 4, "trained_questions": 5}


def test_further_questions_come_after_the_trained_ones_from_the_same_paragraphs() -> None:
    from rag.train import further_questions

    qs, held, first, meta = _first_trained()
    more = further_questions(qs, held, meta, 7)
    assert len(more) == 7 and {q.para for q in more} <= {q.para for q in first}
    assert not {q.text for q in more} & {q.text for q in first}
    again = further_questions(qs, held, {**meta, "continued": [{"questions": 7}]}, 3)
    assert not {q.text for q in again} & {q.text for q in more + first}


def test_a_further_pass_revisits_only_the_paragraphs_first_trained_on() -> None:
    from rag.train import revisited_questions

    qs, held, first, meta = _first_trained()
    again = revisited_questions(qs, held, meta, 30, stage=1)
    assert len(again) == 30 and {q.para for q in again} <= {q.para for q in first}
    assert {q.text for q in first} & {q.text for q in again}  # trained on before, or not
    assert revisited_questions(qs, held, meta, 30, stage=2) != again  # drawn afresh


def test_one_long_run_goes_round_the_first_draws_paragraphs_and_no_others() -> None:
    import random

    from rag.train import cycled_questions, trained_questions

    qs, held, first, meta = _first_trained()
    draws = cycled_questions(qs, held, meta["seed"], 5, 70)
    touched = {q.para for q in first}
    pool = [q for q in qs if q.para in touched]
    assert len(draws) == 70 and {q.para for q in draws} == touched
    assert len(pool) < 70 and {q.text for q in draws[: len(pool)]} == {q.text for q in pool}
    assert draws[: len(pool)] != draws[len(pool) : 2 * len(pool)]  # reshuffled each round
    # eval.fit keeps away from the same paragraphs, counted from the first draw alone
    assert trained_questions(qs, held, random.Random(4), 5) == first
    assert cycled_questions(qs, set(), 4, 0, 10) == []


def test_draws_are_for_a_run_from_scratch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from rag.crossencoder import MODEL_DIR
    from rag.train import main

    for argv in (["--continue-from", str(MODEL_DIR), "--draws", "10"], ["--draws", "0"]):
        with pytest.raises(SystemExit):
            main(["--data", str(tmp_path), *argv])
        assert "--draws" in capsys.readouterr().err


def test_measuring_only_needs_a_model_to_measure(tmp_path: Path) -> None:
    from rag.train import main

    with pytest.raises(SystemExit):
        main(["--data", str(tmp_path), "--measure-only"])


def test_a_continued_model_can_grow_but_not_shrink(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from rag.crossencoder import MODEL_DIR
    from rag.train import main

    with pytest.raises(SystemExit):
        main(["--data", str(tmp_path), "--continue-from", str(MODEL_DIR), "--layers", "1"])
    assert "can grow, not shrink" in capsys.readouterr().err


def test_a_device_torch_cannot_use_is_refused_before_the_data_is_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch

    from rag.train import main

    for device, says in (("gpu0", "not a torch device"), ("meta", "only cpu and cuda")):
        with pytest.raises(SystemExit):
            main(["--data", str(tmp_path), "--device", device])
        assert f"--device {device}: {says}" in capsys.readouterr().err
    if not torch.cuda.is_available():
        with pytest.raises(SystemExit):
            main(["--data", str(tmp_path), "--device", "cuda"])
        assert "this torch sees no CUDA device" in capsys.readouterr().err


def test_a_folder_without_the_data_is_refused(tmp_path: Path) -> None:
    from rag.train import main

    with pytest.raises(SystemExit, match="no SQuAD-shifts files"):
        main(["--data", str(tmp_path)])


@pytest.mark.slow
@needs_training_data
def test_fitting_asks_through_the_real_pipeline_and_writes_models_the_reader_loads(
    tmp_path: Path,
) -> None:
    from eval.fit import main
    from rag.features import load_models

    out = tmp_path / "combiner.json"
    main(["--data", str(DATA), "--out", str(out), "--files", "new_wiki_v1.0.json",
          "--articles", "4", "--questions", "40", "--read-top", "2", "--seed", "5"])
    m = load_models(out)
    assert m.read_top == 2 and 0.0 < m.threshold < 1.0
    fit = m.training["out_of_fold"]
    assert fit["questions"] == 80 and 0 < fit["answerable"] < 80
    assert m.training["seed"] == 5 and "--files new_wiki_v1.0.json" in m.training["command"]
