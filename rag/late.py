"""Late interaction: how well each word of the question is met somewhere in a sentence.

A sentence's meaning vector is one average of its word pieces, so "Gateshead's population in
2011 was 120,046." and a sentence about Gateshead's history sit close to "How many people live
in Gateshead?". Late interaction (ColBERT's MaxSim) keeps the word pieces apart: each content
word piece of the question finds its best match among the sentence's word pieces, and the
score is their weighted mean. The word-piece vectors are the embedding model's own, from the
passes that already embed the question and each chunk, so it costs no model time; a small
learned part projects them to ``DIM`` numbers (which the index stores, as int8) and weighs
the question's word pieces. It is trained on SQuAD-shifts (``python -m rag.late``); its
scores are columns the learned reader weighs (``rag/features.py``).

>>> model = shared_late()                                                 # doctest: +SKIP
>>> vec, pieces = MiniLMEmbedder().embed_question("How many people live in Gateshead?")  # doctest: +SKIP
>>> model.scores(model.question(pieces), [cand.tokens for cand in cands])  # doctest: +SKIP
array([0.71, 0.43, ...])
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from rag.errors import RagError

LATE_FILE = Path(__file__).resolve().parent / "models" / "reader" / "late.safetensors"
DIM = 64  # numbers kept per word piece: 64 measured as good as all 384 (docs/experiments.md)
SCALE = 127.0  # int8 storage of unit vectors' components


@lru_cache(maxsize=1)
def content_ids() -> np.ndarray:
    """For each word-piece id of the embedding model's vocabulary: whether it carries content
    (a word piece with a letter or digit that is not a stopword, or the continuation of a
    word). Punctuation, stopwords and the model's special tokens are left out of matching."""
    from transformers import AutoTokenizer

    from rag.embed import model_dir
    from rag.lexical import STOPWORDS

    tok = AutoTokenizer.from_pretrained(model_dir())
    vocab = tok.convert_ids_to_tokens(list(range(tok.vocab_size)))
    special = set(tok.all_special_tokens)
    return np.array(
        [
            t not in special
            and (t.startswith("##") or (any(c.isalnum() for c in t) and t not in STOPWORDS))
            for t in vocab
        ]
    )


def content_tokens(vecs: np.ndarray, ids: Sequence[int]) -> np.ndarray:
    """The rows of ``vecs`` (one per word piece ``ids``) that carry content."""
    keep = content_ids()[np.asarray(ids, dtype=np.int64)]
    return vecs[keep]


def quantize(vecs: np.ndarray) -> np.ndarray:
    """Unit vectors as int8 (``SCALE`` per unit): a stored word piece is ``DIM`` bytes."""
    return np.clip(np.rint(vecs * SCALE), -127, 127).astype(np.int8)


@dataclass(frozen=True)
class Question:
    """A question's content word pieces, projected, and how much each counts."""

    vecs: np.ndarray  # (n, DIM), unit rows
    weights: np.ndarray  # (n,), summing to 1


@dataclass(frozen=True)
class LateModel:
    """``W`` projects a 384-number word-piece vector to ``DIM``; ``g`` weighs a question's
    word pieces (softplus of ``g · v + g_bias``)."""

    W: np.ndarray  # (DIM, 384)
    g: np.ndarray  # (384,)
    g_bias: float
    training: dict[str, Any] = field(default_factory=dict, compare=False)

    def project(self, vecs: np.ndarray) -> np.ndarray:
        """Unit-length projections of word-piece vectors (n, 384) -> (n, DIM), float32."""
        p = np.asarray(vecs, dtype=np.float32) @ self.W.T
        return p / np.maximum(np.linalg.norm(p, axis=1, keepdims=True), 1e-6)

    def sentence(self, vecs: np.ndarray) -> np.ndarray:
        """What the index stores of a sentence: its content word pieces, projected, int8."""
        return quantize(self.project(vecs)) if len(vecs) else np.zeros((0, DIM), np.int8)

    def question(self, vecs: np.ndarray) -> Question:
        """The question's side from its content word pieces (n, 384)."""
        if not len(vecs):
            return Question(np.zeros((0, DIM), np.float32), np.zeros(0, np.float32))
        w = np.logaddexp(0.0, np.asarray(vecs, np.float32) @ self.g + self.g_bias)  # softplus
        return Question(self.project(vecs), w / max(float(w.sum()), 1e-9))

    def scores(self, q: Question, sentences: Sequence[np.ndarray | None]) -> np.ndarray:
        """For each sentence (its stored int8 word pieces), the weighted mean over the
        question's word pieces of the best cosine among the sentence's; 0 for a sentence with
        none stored, or a question with no content word piece."""
        return self.matches(q, sentences)[0]

    def matches(
        self, q: Question, sentences: Sequence[np.ndarray | None]
    ) -> tuple[np.ndarray, np.ndarray]:
        """``scores``, and for each sentence the best cosine of the question's least-met word
        piece (a name the sentence never gives leaves one word piece unmet)."""
        met, least = np.zeros(len(sentences)), np.zeros(len(sentences))
        if not len(q.vecs):
            return met, least
        for i, s in enumerate(sentences):
            if s is not None and len(s):
                best = (q.vecs @ (s.astype(np.float32) / SCALE).T).max(axis=1)
                met[i], least[i] = float(q.weights @ best), float(best.min())
        return met, least


def load_late(path: Path = LATE_FILE) -> LateModel:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="numpy") as f:
            meta = f.metadata() or {}
            W, g, b = f.get_tensor("W"), f.get_tensor("g"), f.get_tensor("g_bias")
    except FileNotFoundError:
        raise RagError(
            f"the late-interaction model is missing ({path}): reinstall the project, or train "
            "it with `python -m rag.late`"
        ) from None
    if W.shape[0] != DIM:
        raise RagError(
            f"the late-interaction model in {path} keeps {W.shape[0]} numbers, not {DIM}"
        )
    return LateModel(
        W.astype(np.float32),
        g.astype(np.float32),
        float(b.reshape(-1)[0]),
        json.loads(meta.get("training", "{}")),
    )


@lru_cache(maxsize=1)
def late_version(path: Path = LATE_FILE) -> str:
    """A short hash of the shipped model: the word pieces an index stores are its projections,
    so a new model re-embeds every document on the next ``rag index``."""
    import hashlib

    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    except FileNotFoundError:
        return "none"


@lru_cache(maxsize=1)
def shared_late() -> LateModel:
    """The shipped model, loaded once per process."""
    return load_late()


# -- training -------------------------------------------------------------------------------


@dataclass
class _Example:
    question: np.ndarray  # content word pieces (n, 384)
    sentences: list[np.ndarray]  # each candidate's content word pieces
    labels: np.ndarray
    paragraph: int


def examples(
    data: Path, questions: int, others: int, say: Any
) -> tuple[list[_Example], dict[str, Any]]:
    """Training questions of the paragraphs the shipped cross-encoder trained on (so the
    paragraphs ``python -m eval.fit`` fits on stay unseen), each against every sentence of its
    paragraph and the ``others`` best sentences (BM25) of other paragraphs of its file, every
    sentence read inside its whole paragraph, as the index reads it inside its chunk."""
    from rag.crossencoder import load_config
    from rag.embed import MiniLMEmbedder
    from rag.train import FILES, OtherParagraphs, load, paragraph_sentences, trained_paragraphs

    paras, qs, sums = load(data)
    touched = trained_paragraphs(paras, qs, load_config().training)
    pool = [q for q in qs if q.para in touched]
    random.Random(0).shuffle(pool)
    pool = pool[:questions]
    by_file = {name: [i for i, p in enumerate(paras) if p.file == name] for name in FILES}
    other = {name: OtherParagraphs(paras, members) for name, members in by_file.items()}
    picks = []
    need: set[int] = set()
    for q in pool:
        near = other[paras[q.para].file].best(q.text, q.para, others)
        picks.append(near)
        need.add(q.para)
        need.update(pi for pi, _ in near)
    order = sorted(need)
    say(f"{len(pool)} questions; reading {len(order)} paragraphs")
    embedder = MiniLMEmbedder()
    toks: dict[int, list[np.ndarray | None]] = {}
    t = time.time()
    step = 256
    for b in range(0, len(order), step):
        chunk = order[b : b + step]
        texts = [paras[pi].context for pi in chunk]
        spans = [paragraph_sentences(paras[pi].context) for pi in chunk]
        _, _, read = embedder.embed_spans(texts, spans)
        toks.update(zip(chunk, read, strict=True))
        say(f"  {min(b + step, len(order))} paragraphs read ({time.time() - t:.0f} s)")
    # a question's content word pieces, as the question's own pass gives them, in batches
    whole = [[(0, len(q.text))] for q in pool]
    qvecs = [p[0] for p in embedder.embed_spans([q.text for q in pool], whole)[2]]
    out = []
    for q, qv, pick in zip(pool, qvecs, picks, strict=True):
        cands = [(q.para, si) for si in range(len(paras[q.para].sentences))] + pick
        sents, labels = [], []
        for pi, si in cands:
            v = toks[pi][si]
            if v is not None and len(v):
                sents.append(v)
                labels.append(float(pi == q.para and si in q.positives))
        if qv is not None and len(qv) and any(labels) and not all(labels):
            out.append(_Example(qv, sents, np.array(labels), q.para))
    return out, {"data_sha256": sums, "questions": len(out)}


def fit(
    train: Sequence[_Example],
    epochs: int,
    lr: float,
    seed: int,
    say: Any,
    held: Sequence[_Example] = (),
) -> LateModel:
    """``W`` (started as a random orthogonal projection) and ``g`` (started at equal
    weights) fitted by softmax over each question's candidates, a temperature learned beside."""
    import torch

    torch.manual_seed(seed)
    W = torch.nn.Parameter(torch.empty(DIM, 384))
    torch.nn.init.orthogonal_(W)
    g = torch.nn.Parameter(torch.zeros(384))
    g_bias = torch.nn.Parameter(torch.zeros(1))
    temp = torch.nn.Parameter(torch.tensor(10.0))
    opt = torch.optim.AdamW([W, g, g_bias, temp], lr=lr, weight_decay=0.0)
    rng = np.random.default_rng(seed)
    data = [
        (torch.tensor(e.question), [torch.tensor(s) for s in e.sentences], torch.tensor(e.labels))
        for e in train
    ]
    batch = 16
    for ep in range(epochs):
        total = 0.0
        for n, j in enumerate(rng.permutation(len(data))):
            q, cands, y = data[j]
            qp = torch.nn.functional.normalize(q @ W.T, dim=-1)
            sp = torch.nn.functional.normalize(torch.cat(cands) @ W.T, dim=-1)
            sims = (qp @ sp.T).split([len(c) for c in cands], dim=1)
            best = torch.stack([s.max(dim=1).values for s in sims], dim=1)  # (n_q, n_cands)
            w = torch.nn.functional.softplus(q @ g + g_bias)
            score = temp * (w @ best) / w.sum()
            loss = -(torch.logsumexp(score[y > 0], 0) - torch.logsumexp(score, 0)) / batch
            loss.backward()
            total += float(loss.detach()) * batch
            if n % batch == batch - 1:
                opt.step()
                opt.zero_grad()
        model = LateModel(
            W.detach().numpy().copy(), g.detach().numpy().copy(), float(g_bias.detach()[0])
        )
        say(f"  epoch {ep + 1}: loss {total / len(data):.4f}, held out top 1 {top1(model, held):.4f}")
    return model


def top1(model: LateModel, held: Sequence[_Example]) -> float:
    """Share of questions whose best-scored candidate answers."""
    hits = [
        bool(
            e.labels[
                int(
                    np.argmax(
                        model.scores(
                            model.question(e.question), [model.sentence(s) for s in e.sentences]
                        )
                    )
                )
            ]
        )
        for e in held
    ]
    return float(np.mean(hits)) if hits else 0.0


def save_late(model: LateModel, path: Path) -> None:
    from safetensors.numpy import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file(
        {
            "W": model.W.astype(np.float32),
            "g": model.g.astype(np.float32),
            "g_bias": np.array([model.g_bias], np.float32),
        },
        str(tmp),
        metadata={"training": json.dumps(model.training)},
    )
    tmp.chmod(0o644)
    tmp.replace(path)


def log(msg: str) -> None:
    print(msg, flush=True)


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        prog="python -m rag.late", description="Train the late-interaction projection."
    )
    ap.add_argument("--data", required=True, help="folder with the SQuAD-shifts JSON files")
    ap.add_argument("--out", default=str(LATE_FILE), help="where the model goes")
    ap.add_argument("--questions", type=int, default=16000, help="training questions drawn")
    ap.add_argument(
        "--others", type=int, default=12, help="sentences of other paragraphs per question"
    )
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument(
        "--held", type=float, default=0.1, help="share of paragraphs whose questions are held out to measure"
    )
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    from rag.train import FILES

    data = Path(args.data)
    if not (data / FILES[0]).is_file():
        sys.exit(f"error: no SQuAD-shifts files in {data} (expected {', '.join(FILES)})")
    t0 = time.time()
    exs, meta = examples(data, args.questions, args.others, log)
    # held out by paragraph: a question's paragraph-mates are never trained on in its place
    paras = sorted({e.paragraph for e in exs})
    random.Random(args.seed).shuffle(paras)
    out_paras = set(paras[: int(len(paras) * args.held)])
    held = [e for e in exs if e.paragraph in out_paras]
    train = [e for e in exs if e.paragraph not in out_paras]
    model = fit(train, args.epochs, args.lr, args.seed, log, held)
    # the model's own word-piece vectors, all 384 numbers, every question word piece alike
    untrained = LateModel(np.eye(384, dtype=np.float32), np.zeros(384, np.float32), 0.0)
    report = {
        "held_out_questions": len(held),
        "held_out_top1": round(top1(model, held), 4),
        "held_out_top1_untrained": round(top1(untrained, held), 4),
    }
    meta.update(
        seed=args.seed,
        command="python -m rag.late " + " ".join(sys.argv[1:] if argv is None else argv),
        trained_questions=len(train),
        seconds=round(time.time() - t0),
        **report,
    )
    model = LateModel(model.W, model.g, model.g_bias, meta)
    save_late(model, Path(args.out))
    log(json.dumps(meta, indent=1))


if __name__ == "__main__":
    main()
