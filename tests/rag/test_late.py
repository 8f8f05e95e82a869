"""Late interaction (rag/late.py): the shipped model, its scores, its word pieces as the index
stores them, and its training script on a sliver of SQuAD-shifts (skipped without it)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import TRAINING_DATA, needs_training_data

DATA = TRAINING_DATA


def _model(dim: int = 4) -> object:
    from rag.late import LateModel

    return LateModel(np.eye(dim, dtype=np.float32), np.zeros(dim, np.float32), 0.0)


def test_a_sentence_meeting_every_question_word_piece_scores_highest() -> None:
    from rag.late import quantize

    m = _model()
    q = m.question(np.eye(4, dtype=np.float32)[:2])  # two word pieces, along axes 0 and 1
    both = quantize(np.eye(4, dtype=np.float32)[[0, 1, 3]])
    one = quantize(np.eye(4, dtype=np.float32)[[0, 3]])
    neither = quantize(np.eye(4, dtype=np.float32)[[2, 3]])
    scores = m.scores(q, [both, one, neither, None, np.zeros((0, 4), np.int8)])
    assert scores[0] == pytest.approx(1.0, abs=0.01) and scores[1] == pytest.approx(0.5, abs=0.01)
    assert scores[2] == pytest.approx(0.0, abs=0.01)
    assert scores[3] == 0.0 and scores[4] == 0.0  # nothing stored: no evidence either way
    _, least = m.matches(q, [both, one])
    assert least[0] == pytest.approx(1.0, abs=0.01) and least[1] == pytest.approx(0.0, abs=0.01)
    # a question with no content word piece scores nothing
    assert not m.scores(m.question(np.zeros((0, 4), np.float32)), [both]).any()


def test_stored_word_pieces_are_int8_and_score_as_the_float_ones() -> None:
    from rag.late import DIM, shared_late

    m = shared_late()
    rng = np.random.default_rng(0)
    q, s = rng.standard_normal((5, 384)), rng.standard_normal((9, 384))
    stored = m.sentence(s)
    assert stored.dtype == np.int8 and stored.shape == (9, DIM)
    qq = m.question(q)
    exact = float(qq.weights @ (qq.vecs @ m.project(s).T).max(axis=1))
    assert m.scores(qq, [stored])[0] == pytest.approx(exact, abs=0.01)
    assert m.training["data_sha256"] and m.training["command"].startswith("python -m rag.late")


def test_matching_leaves_out_stopwords_and_punctuation_not_word_continuations(embedder) -> None:
    from rag.late import content_ids

    tok = embedder.model.tokenizer
    ids = tok("Who is the mayor of Gateshead?", add_special_tokens=True)["input_ids"]
    kept = [t for t, c in zip(tok.convert_ids_to_tokens(ids), content_ids()[ids], strict=True) if c]
    assert "mayor" in kept and "the" not in kept and "?" not in kept and "[CLS]" not in kept
    assert any(t.startswith("##") for t in kept)  # "gateshead" is more than one word piece


def test_the_question_pass_gives_its_vector_and_its_content_word_pieces(embedder) -> None:
    q = "How many people live in Gateshead?"
    vec, pieces = embedder.embed_question(q)
    assert float(vec @ embedder.embed([q])[0]) > 0.9999
    assert pieces.shape[1] == 384 and 3 <= len(pieces) <= 8


def test_the_index_stores_each_sentence_word_pieces(built, embedder) -> None:
    from index.service import open_index
    from rag.late import DIM

    idx = open_index(built, embedder=embedder)
    chunk, _ = idx.retrieve("Putin demanded", k=1)[0]
    sents = chunk.sentences()
    assert sents and all(s.tokens is not None and s.tokens.shape[1] == DIM for s in sents)
    assert all(len(s.tokens) >= 1 for s in sents if any(ch.isalpha() for ch in s.text))


@pytest.mark.slow
@needs_training_data
def test_training_writes_a_model_the_reader_loads(tmp_path: Path) -> None:
    from rag.late import load_late, main

    out = tmp_path / "late.safetensors"
    main(["--data", str(DATA), "--out", str(out), "--questions", "40", "--others", "4",
          "--epochs", "1", "--seed", "2"])
    m = load_late(out)
    assert m.training["seed"] == 2 and m.training["held_out_questions"] >= 1
    assert set(m.training["data_sha256"]) == {
        "new_wiki_v1.0.json", "reddit_v1.0.json", "amazon_reviews_v1.0.json"
    }
    assert json.loads(json.dumps(m.training))["command"].startswith("python -m rag.late")
    assert m.sentence(np.ones((2, 384))).shape == (2, m.W.shape[0])


def test_a_missing_model_is_a_message(tmp_path: Path) -> None:
    from rag.errors import RagError
    from rag.late import load_late

    with pytest.raises(RagError, match="python -m rag.late"):
        load_late(tmp_path / "nothing.safetensors")
