"""Does a date sway the learned reader? A probe on SQuAD-shifts paragraphs the reader never
trained on (training data; XQuAD and ``eval/qa.jsonl`` are never read here).

    python -m eval.probe --data ../shared/datasets/train-squadshifts [MODEL_FOLDER ...]

For every question naming a year whose paragraph has a sentence that neither answers nor
names a year, that sentence is read as it is, and again opened by a date with the question's
year ("On May 3, 2011, ..."), with another year, and with a phrase of no date ("In the
meantime, as often before, ..."), and closed by the question's month and year ("..., in May
2011."). ``rag.train --decoy`` teaches openings of the first kind, never a closing date, so the
last row tells whether what it taught carries over. A reader that weighs what a sentence says
barely moves on any of them; the probe prints how far the logit moves and how often the changed
sentence outranks the question's answering sentence.
"""

from __future__ import annotations

import argparse
import random
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rag.crossencoder import MODEL_DIR, load_config
from rag.train import MONTHS, Paragraph, Question, Triple, ask, context, load, trained_paragraphs

YEAR = re.compile(r"\b(1[6-9]\d\d|20[0-2]\d)\b")
OPENINGS = (
    "as it is",
    "the question's year",
    "another year",
    "no date",
    "the question's year, at its end",
)


def closed(sentence: str, phrase: str) -> str:
    """``sentence`` with ``phrase`` before its closing stop: "Trains cross it, in May 2011." """
    body = sentence.rstrip()
    stop = body[-1] if body[-1] in ".!?" else ""
    return f"{body[: len(body) - len(stop)]}, {phrase}{stop or '.'}"


def cases(
    paras: Sequence[Paragraph], qs: Sequence[Question], skip: set[int], seed: int = 0
) -> list[list[Triple]]:
    """Per probed question: its answering sentence, then one non-answering sentence of its
    paragraph with each of ``OPENINGS``."""
    rng = random.Random(seed)
    out = []
    for q in qs:
        year = YEAR.search(q.text)
        p = paras[q.para]
        if q.para in skip or not year:
            continue
        negs = [i for i, s in enumerate(p.sentences) if i not in q.positives and not YEAR.search(s)]
        if not negs:
            continue
        pos, neg = min(q.positives), rng.choice(negs)
        s = p.sentences[neg]
        s = s if s[:2].isupper() else s[0].lower() + s[1:]
        month = rng.choice(MONTHS)
        day = f"{month} {rng.randint(1, 28)}"
        other = int(year.group(1)) + rng.choice((-7, -5, -3, 3, 5, 7))
        before = context(paras, q.para, neg)
        asked = ask(q.text, p)
        out.append(
            [
                (asked, p.sentences[pos], context(paras, q.para, pos)),
                (asked, p.sentences[neg], before),
                (asked, f"On {day}, {year.group(1)}, {s}", before),
                (asked, f"On {day}, {other}, {s}", before),
                (asked, f"In the meantime, as often before, {s}", before),
                (asked, closed(p.sentences[neg], f"in {month} {year.group(1)}"), before),
            ]
        )
    return out


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(prog="python -m eval.probe", description=__doc__.split("\n")[0])
    ap.add_argument("--data", required=True, help="folder with the SQuAD-shifts JSON files")
    ap.add_argument("models", nargs="*", default=[str(MODEL_DIR)], help="reader folders")
    args = ap.parse_args(argv)
    from rag.crossencoder import CrossEncoder

    loaded = {}
    for folder in args.models:
        ce = CrossEncoder(Path(folder))
        titles = ce.config.title_tokens > 0  # paragraphs with titles for a reader of titles
        if titles not in loaded:
            loaded[titles] = load(Path(args.data), titles)
        paras, qs, _ = loaded[titles]
        # only paragraphs this reader never trained on
        probe = cases(paras, qs, trained_paragraphs(paras, qs, load_config(ce.folder).training))
        lg = np.array([ce.logits(c[0][0], [(s, b) for _, s, b in c]) for c in probe])
        print(f"{folder}: {len(probe)} questions naming a year")
        print("| the non-answering sentence | logit | moved | outranks the answer |")
        print("|---|---:|---:|---:|")
        for k, name in enumerate(OPENINGS, start=1):
            moved = (lg[:, k] - lg[:, 1]).mean()
            print(
                f"| {name} | {lg[:, k].mean():.2f} | {moved:+.2f} | "
                f"{(lg[:, k] > lg[:, 0]).mean():.3f} |"
            )
        print(f"| (the answering sentence) | {lg[:, 0].mean():.2f} | | |")


if __name__ == "__main__":
    main()
