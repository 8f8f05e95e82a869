"""The learned reader's decisions, with a stand-in encoder whose logits are given and fitted
models that weigh only its logit (no model, no fit)."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pytest

from rag.answer import Candidate, build_answer
from rag.crossencoder import ReaderConfig, Reading
from rag.features import FIRST_FEATURES, READ_FEATURES, Logistic, ReaderModels
from rag.readers import LearnedReader, Lookup, RuleReader, make_reader


def _only(names: tuple[str, ...], feature: str, weight: float = 1.0) -> Logistic:
    """A logistic model that weighs one feature, unscaled: P = sigmoid(weight * x)."""
    n = len(names)
    w = tuple(weight if f == feature else 0.0 for f in names)
    return Logistic(names, (0.0,) * n, (1.0,) * n, w, 0.0)


MODELS = ReaderModels(
    first=_only(FIRST_FEATURES, "cosine"),
    read=_only(READ_FEATURES, "ce_logit"),
    read_top=3,
    threshold=0.3,
    also=0.5,
)


def _cand(i: int, text: str) -> Candidate:
    v = np.asarray([1.0, 0.0, 0.0], dtype=np.float32)
    return Candidate(
        id=f"s{i}", source="a.txt", title="T", date=None, text=text, start=i * 100,
        end=i * 100 + len(text), index=i, vector=v, passage=text, passage_score=1.0,
    )


@dataclass
class FixedEncoder:
    """Gives each sentence the logit listed for it: the reader's logic, without the model."""

    by_text: dict[str, float]
    config: ReaderConfig = ReaderConfig(layers=1, scale=1.0, bias=0.0, threshold=0.3)
    seen: list[tuple[str, str | None]] | None = None
    titles: list[str] | None = None

    def warm_up(self) -> None:
        pass

    def read(
        self, question: str, pairs: list[tuple[str, str | None]], titles: list[str] | None = None
    ) -> Reading:
        self.seen = list(pairs)
        self.titles = None if titles is None else list(titles)
        logits = np.asarray([self.by_text[s] for s, _ in pairs], dtype=np.float32)
        return Reading(logits, -logits)  # span scores that disagree with the logits


SENTS = [
    _cand(0, "The bridge opened to traffic in 1932."),
    _cand(1, "It was designed by John Bradfield."),
    _cand(2, "The bridge carries rail, vehicles and pedestrians."),
]


def _look(cands: list[Candidate]) -> Lookup:
    at = {c.index: c for c in cands}
    return Lookup(
        idf=lambda t: 1.0,
        knows=lambda t: True,
        knows_name=lambda t: True,
        word_vec=None,
        byline=lambda s: None,
        before=lambda c: at.get(c.index - 1),
    )


def _read(logits: list[float], question: str = "Who designed the bridge?", models=MODELS):
    enc = FixedEncoder({c.text: v for c, v in zip(SENTS, logits, strict=True)})
    reader = LearnedReader(encoder=enc, models=models)
    qvec = np.asarray([1.0, 0.0, 0.0], dtype=np.float32)
    return reader.read(question, qvec, SENTS, _look(SENTS)), enc


def test_the_encoder_ranks_and_its_probability_is_the_confidence():
    d, enc = _read([-2.0, 3.0, -1.0])
    assert d.reason is None
    assert d.chosen[0].cand.text == SENTS[1].text
    assert d.confidence == pytest.approx(1 / (1 + np.exp(-3.0)))
    assert [s.cand.index for s in d.ranked] == [1, 2, 0]
    # each sentence is read with the sentence before it
    assert enc.seen is not None and (SENTS[1].text, SENTS[0].text) in enc.seen
    assert enc.titles == ["T"] * len(enc.seen)  # each sentence with its document's title


def test_a_model_weighing_the_span_score_ranks_by_it():
    spans = replace(MODELS, read=_only(READ_FEATURES, "span"))
    d, _ = _read([-2.0, 3.0, -1.0], models=spans)  # span scores 2, -3, 1
    assert [s.cand.index for s in d.ranked] == [0, 2, 1]


def test_under_the_threshold_it_abstains_and_says_why():
    d, _ = _read([-2.0, -1.5, -3.0])  # best probability sigmoid(-1.5) = 0.18 < 0.3
    assert d.chosen == [] and d.reason is not None
    assert "0.18" in d.reason and "0.30" in d.reason
    assert d.confidence == pytest.approx(1 / (1 + np.exp(1.5)))


def test_a_second_sentence_joins_only_when_it_too_more_likely_answers_than_not():
    d, _ = _read([0.5, 3.0, -1.0])  # the second best at 0.62
    assert [s.cand.index for s in d.chosen] == [1, 0]
    d, _ = _read([-0.5, 3.0, -1.0])  # the second best at 0.38: above the threshold, not 0.5
    assert [s.cand.index for s in d.chosen] == [1]


def test_the_answer_cites_the_answering_sentence_first_with_its_probability():
    d, _ = _read([-2.0, 3.0, -1.0])
    at = {c.index: c for c in SENTS}
    a = build_answer(
        "Who designed the bridge?", d.chosen, lambda c, k: at.get(c.index + k), d.reason,
        confidence=d.confidence,
    )
    # "It was designed by ..." leans on the sentence before: that comes second, as context
    assert [(c.quote, c.role) for c in a.citations] == [
        (SENTS[1].text, "answer"),
        (SENTS[0].text, "context"),
    ]
    assert a.citations[0].probability == pytest.approx(d.confidence)
    assert a.to_dict()["confidence"] == round(float(d.confidence or 0), 4)


def test_only_the_first_models_best_are_read_and_the_rest_follow_them():
    from dataclasses import replace

    tilted = [replace(c, vector=np.asarray(v, dtype=np.float32)) for c, v in zip(
        SENTS, ([0.6, 0.8, 0.0], [1.0, 0.0, 0.0], [0.8, 0.6, 0.0]), strict=True
    )]
    enc = FixedEncoder({c.text: v for c, v in zip(SENTS, [2.0, -1.0, 0.5], strict=True)})
    reader = LearnedReader(encoder=enc, models=replace(MODELS, read_top=2))
    qvec = np.asarray([1.0, 0.0, 0.0], dtype=np.float32)
    d = reader.read("Who designed the bridge?", qvec, tilted, _look(tilted))
    # cosines 0.6, 1.0, 0.8: the first model sends sentences 1 and 2 to be read, not 0
    assert enc.seen is not None and [s for s, _ in enc.seen] == [SENTS[1].text, SENTS[2].text]
    # read: ranked by the read model (0.5 over -1.0); then the unread one
    assert [s.cand.index for s in d.ranked] == [2, 1, 0]
    assert d.ranked[2].probability == pytest.approx(1 / (1 + np.exp(-0.6)))


def test_readers_by_name():
    assert isinstance(make_reader("rules"), RuleReader)
    from rag.errors import InputError

    with pytest.raises(InputError, match="unknown reader 'bert'"):
        make_reader("bert")


def test_a_question_none_of_whose_words_the_documents_use_is_not_read():
    enc = FixedEncoder({c.text: 5.0 for c in SENTS})
    reader = LearnedReader(encoder=enc, models=MODELS)
    look = replace(_look(SENTS), knows=lambda t: False)
    qvec = np.asarray([1.0, 0.0, 0.0], dtype=np.float32)
    d = reader.read("When is the glimmerwort festival?", qvec, SENTS, look)
    assert d.chosen == [] and d.reason == "none of the question's words occur in the documents"
    assert enc.seen is None  # nothing was sent to the cross-encoder
    d = reader.read("Who designed the bridge?", qvec, SENTS, _look(SENTS))
    assert d.chosen and d.reason is None
