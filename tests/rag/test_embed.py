"""Late-chunked span vectors from the real model: one pass gives the text's vector and its
sentences' vectors read in context."""

from __future__ import annotations

import numpy as np


def test_text_vector_is_the_models_own_and_spans_read_in_context(embedder):
    first = "The harbour master of Lindvik is Karin Holm."
    second = "She has held the post since the storm of 1998."
    text = f"{first} {second}"
    span = (len(first) + 1, len(text))
    vecs, spans, _ = embedder.embed_spans([text], [[(0, len(first)), span]])

    # the whole text's vector is what `embed` gives (the model's own mean pooling)
    assert float(vecs[0] @ embedder.embed([text])[0]) > 0.999
    in_context = spans[0][1]
    assert in_context is not None and abs(float(np.linalg.norm(in_context)) - 1.0) < 1e-5
    # "She ..." read after the sentence naming her is closer to a question about the harbour
    # master than the same sentence embedded on its own
    q = embedder.embed(["How long has the Lindvik harbour master held the post?"])[0]
    alone = embedder.embed([second])[0]
    assert float(q @ in_context) > float(q @ alone)


def test_span_past_the_models_window_gets_no_vector(embedder):
    long_text = " ".join(f"word{i}" for i in range(600)) + " The last sentence."
    tail = (len(long_text) - len("The last sentence."), len(long_text))
    _, spans, _ = embedder.embed_spans([long_text], [[(0, 9), tail]])
    assert spans[0][0] is not None and spans[0][1] is None
