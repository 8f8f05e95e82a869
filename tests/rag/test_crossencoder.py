"""The shipped cross-encoder, the real model: the reading dtype chosen for speed ranks as
float32 does."""

from __future__ import annotations

import numpy as np

from rag.crossencoder import CrossEncoder, _dtype, _load, encode_batch

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


def test_the_reading_dtype_gives_float32s_logits_closely() -> None:
    import torch

    ce = CrossEncoder()
    fast = ce.logits(QUESTION, PAIRS)
    model = _load(str(ce.folder), "cpu", ce.config.layers)
    assert next(model.parameters()).dtype == _dtype("cpu")
    exact = model.to(torch.float32)
    try:
        enc = encode_batch([(QUESTION, s, c) for s, c in PAIRS], ce.config)
        with torch.inference_mode():
            ref = exact(**enc).numpy()
    finally:
        model.to(_dtype("cpu"))
    assert int(np.argmax(fast)) == int(np.argmax(ref)) == 1
    assert np.max(np.abs(fast - ref)) < 0.25
