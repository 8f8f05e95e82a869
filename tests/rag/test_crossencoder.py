"""The shipped cross-encoder, the real model: the reading dtype chosen for speed ranks as
float32 does."""

from __future__ import annotations

import numpy as np

from rag.crossencoder import (
    CrossEncoder,
    ReaderConfig,
    _load,
    asked,
    compute_dtype,
    encode_batch,
    sentence_pieces,
    tokenizer,
)

QUESTION = "Who designed the Sydney Harbour Bridge?"
PAIRS = [
    ("The bridge opened to traffic in 1932.", None),
    ("It was designed by John Bradfield of the New South Wales Department of Public Works.",
     "The bridge opened to traffic in 1932."),
    ("The bridge carries rail, vehicles, bicycles and pedestrians.", None),
    ("Construction employed about 1,400 workers over eight years.", None),
]


def test_the_answering_sentence_gets_the_highest_logit() -> None:
    logits = CrossEncoder().logits(QUESTION, PAIRS)
    assert logits.shape == (4,)
    assert int(np.argmax(logits)) == 1


def test_the_shipped_span_head_scores_the_sentence_holding_the_answer_highest() -> None:
    ce = CrossEncoder()
    assert ce.config.span_head
    spans = ce.read(QUESTION, PAIRS).spans
    assert int(np.argmax(spans)) == 1
    assert spans[1] > max(np.delete(spans, 1)) + 2.0


def test_the_reading_dtype_gives_float32s_logits_closely() -> None:
    import torch

    ce = CrossEncoder()
    fast = ce.logits(QUESTION, PAIRS)
    model = _load(str(ce.folder), "cpu", ce.config)
    assert next(model.parameters()).dtype == compute_dtype("cpu")
    exact = model.to(torch.float32)
    try:
        enc = encode_batch([(QUESTION, s, c) for s, c in PAIRS], ce.config)
        with torch.inference_mode():
            ref = exact(**enc).numpy()
    finally:
        model.to(compute_dtype("cpu"))
    assert int(np.argmax(fast)) == int(np.argmax(ref)) == 1
    assert np.max(np.abs(fast - ref)) < 0.25


def test_the_sentences_word_pieces_are_neither_the_question_nor_the_sentence_before() -> None:
    from rag.crossencoder import ReaderConfig, sentence_pieces, tokenizer

    enc = encode_batch(
        [("Who won?", "Smith won the race.", "It rained all day."), ("Who?", "It rained.", None)],
        ReaderConfig(layers=1),
    )
    mask = sentence_pieces(enc)
    ids = enc["input_ids"]
    words = [tokenizer().decode(ids[r][mask[r]]) for r in range(2)]
    assert words == ["smith won the race.", "it rained."]


def test_the_span_score_is_the_best_short_span_in_the_sentence_against_no_answer() -> None:
    import torch

    from rag.crossencoder import span_scores

    start = torch.tensor([[1.0, 0.0, 5.0, 0.0, 9.0]])
    end = torch.tensor([[2.0, 4.0, 0.0, 3.0, 9.0]])
    inside = torch.tensor([[False, True, True, True, False]])  # piece 4 is not the sentence's
    spans = torch.stack([start, end], dim=-1)
    # best start 2 (5.0) with an end at or after it: 3 (3.0); minus the first token's 1 + 2
    assert span_scores(spans, inside).tolist() == [5.0]
    # at most one piece long: (1, 1) = 4.0 or (2, 2) = 5.0 or (3, 3) = 3.0
    assert span_scores(spans, inside, longest=1).tolist() == [2.0]


def test_the_span_loss_teaches_the_answers_pieces_and_the_first_token_elsewhere() -> None:
    import torch

    from rag.crossencoder import ReaderConfig
    from rag.train import UNKNOWN, span_loss

    trip = [("Who won?", "Smith Jones won the race.", "It rained."), ("Who?", "It rained.", None),
            ("Who?", "It rained.", None)]
    enc = encode_batch(trip, ReaderConfig(layers=1), offsets=True)
    offsets = enc.pop("offset_mapping")
    targets = [(0, 11), None, UNKNOWN]  # "Smith Jones"; no answer; not taught
    n = enc["input_ids"].shape[1]
    where = {0: (5, 6), 1: (0, 0)}  # [CLS] who won ? [SEP] smith jones ...
    spans = torch.full((3, n, 2), -20.0)
    for row, (s, e) in where.items():
        spans[row, s, 0] = spans[row, e, 1] = 20.0
    assert float(span_loss(spans, enc, offsets, targets)) < 1e-6
    spans[0, 5, 0] = -20.0  # the start taught elsewhere now costs
    assert float(span_loss(spans, enc, offsets, targets)) > 0.3


def test_a_sentence_with_no_word_piece_left_gets_the_floor_not_an_overflow() -> None:
    import torch

    from rag.crossencoder import SPAN_FLOOR, span_scores

    spans = torch.zeros((1, 4, 2))
    assert span_scores(spans, torch.zeros((1, 4), dtype=torch.bool)).tolist() == [SPAN_FLOOR]


def test_the_model_card_states_what_the_shipped_files_record() -> None:
    """MODEL.md goes out of date when the model is trained again and the card is not."""
    import json

    from rag.crossencoder import MODEL_DIR

    card = (MODEL_DIR / "MODEL.md").read_text(encoding="utf-8")
    training = json.loads((MODEL_DIR / "config.json").read_text())["training"]
    fitted = json.loads((MODEL_DIR / "combiner.json").read_text())["training"]
    for sha in training["data_sha256"].values():
        assert sha in card
    assert fitted["data_sha256"] == training["data_sha256"]
    said = [
        f"{training['draws']:,}".replace(",", ""),
        str(training["held_out"]["best_sentence_right"]),
        str(training["held_out"]["abstention_left_out"]),
        f"{training['held_out']['training_seconds']:,}",
        str(fitted["out_of_fold"]["best_sentence_right"]),
        str(fitted["out_of_fold"]["abstention_left_out"]),
        str(fitted["out_of_fold"]["threshold"]),
    ]
    for figure in said:
        assert figure in card, figure


def test_running_pairs_by_length_gives_one_runs_logits_spans_and_span_loss() -> None:
    import torch

    from rag.crossencoder import ReaderConfig, build_model, forward_by_length
    from rag.train import span_loss

    torch.manual_seed(0)
    model = build_model(2, span_head=True).eval()
    long = "It was designed by John Bradfield of the New South Wales Department of Public Works, "
    trip = [
        (QUESTION, s * k, c)
        for k, (s, c) in zip((1, 3, 1, 5, 2, 1, 4), PAIRS + PAIRS[:3], strict=True)
    ]
    trip[3] = (QUESTION, long * 4, PAIRS[0][0])
    enc = encode_batch(trip, ReaderConfig(layers=2, span_head=True), offsets=True)
    offsets = enc.pop("offset_mapping")
    real = enc["attention_mask"].bool()
    assert real.sum(dim=1).min() < real.shape[1] / 2  # the parts are shorter than the batch
    targets = [(19, 33), None, None, (19, 33), None, None, None]
    with torch.inference_mode():
        whole = model.both(**enc)
        for parts in (2, 3):
            logits, spans = forward_by_length(model, enc, parts)
            assert torch.allclose(logits, whole[0], atol=1e-5)
            assert torch.allclose(spans[real], whole[1][real], atol=1e-5)
            assert abs(
                float(span_loss(spans, enc, offsets, targets))
                - float(span_loss(whole[1], enc, offsets, targets))
            ) < 1e-5


def test_a_title_is_read_after_the_question_cut_short_and_never_as_the_sentence() -> None:
    title = "Sydney Harbour Bridge " + "and its many approaches " * 5
    assert asked(QUESTION, title, 0) == QUESTION  # a reader trained without titles
    assert asked(QUESTION, "  ", 12) == QUESTION  # a document without one
    first = asked(QUESTION, title, 12)
    enc = encode_batch([(first, *PAIRS[1])], ReaderConfig(layers=4, title_tokens=12))
    pieces = tokenizer().convert_ids_to_tokens(enc["input_ids"][0])
    seps = [i for i, t in enumerate(pieces) if t == "[SEP]"]
    assert seps[1] - seps[0] - 1 == 12  # the title's first 12 word pieces, between the question's
    assert pieces[seps[0] + 1 : seps[0] + 4] == ["sydney", "harbour", "bridge"]
    assert int(enc["token_type_ids"][0, : seps[1] + 1].sum()) == 0  # in the first segment
    sentence = [p for p, inside in zip(pieces, sentence_pieces(enc)[0].tolist(), strict=True) if inside]
    assert tokenizer().convert_tokens_to_string(sentence).startswith("it was designed by john")


def test_the_shipped_reader_reads_the_title_it_is_given() -> None:
    ce = CrossEncoder()
    assert ce.config.title_tokens == 12
    opera = ce.read(QUESTION, PAIRS, ["Opera House"] * len(PAIRS))
    bridge = ce.read(QUESTION, PAIRS, ["Sydney Harbour Bridge"] * len(PAIRS))
    untitled = ce.read(QUESTION, PAIRS, ["  "] * len(PAIRS))
    assert np.array_equal(untitled.logits, ce.read(QUESTION, PAIRS).logits)  # none given: none read
    assert not np.allclose(opera.logits, bridge.logits)
    assert np.array_equal(opera.logits, ce.read(QUESTION, PAIRS, ["Opera House"] * len(PAIRS)).logits)
