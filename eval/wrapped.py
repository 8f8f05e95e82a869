"""A corpus laid out as a typeset page's text is: SQuAD-shifts Wikipedia articles hard-wrapped
at 64 columns, a long word broken with a hyphen where a line would otherwise be left 8 or more
characters short (TeX-like; break points from pyphen), beside the same articles unwrapped, and
their questions as a Q&A file for ``rag eval --qa``. It measures what cleaning a PDF's or a
wrapped text file's lines costs the answerer (``docs/experiments.md``).

    pip install pyphen          # used here only; not a dependency of the project
    python -m eval.wrapped --data ../shared/datasets/train-squadshifts --out /tmp/wrapped
    rag --corpus /tmp/wrapped/wrapped --index-dir /tmp/wrapped/idx index
    rag --corpus /tmp/wrapped/wrapped --index-dir /tmp/wrapped/idx eval --qa /tmp/wrapped/qa.jsonl --methods learned
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

WIDTH = 64
SHORT = 8  # a line left this many characters short is worth a hyphen


def wrap(paragraph: str, hyphenate: Any, width: int = WIDTH) -> str:
    """``paragraph`` as lines of at most ``width`` characters, a word of 6 letters or more
    broken with a hyphen at one of ``hyphenate``'s points where it would leave a line
    ``SHORT`` or more characters short."""
    lines: list[str] = []
    cur = ""
    for w in paragraph.split():
        if not cur:
            cur = w
            continue
        if len(cur) + 1 + len(w) <= width:
            cur += " " + w
            continue
        room = width - len(cur) - 1
        core = w.strip(".,;:()\"'")
        breakable = room >= SHORT and len(core) >= 6 and core.isascii() and core.isalpha()
        points = sorted(hyphenate(w), key=lambda t: -len(t[0])) if breakable else []
        for a, b in points:
            if 2 <= len(a) < room and len(b) >= 3:
                lines.append(f"{cur} {a}-")
                cur = b
                break
        else:
            lines.append(cur)
            cur = w
    if cur:
        lines.append(cur)
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", required=True, help="the SQuAD-shifts folder")
    ap.add_argument("--out", required=True)
    ap.add_argument("--articles", type=int, default=12, help="the file's last N articles")
    ap.add_argument("--per-article", type=int, default=80, help="questions asked of each")
    ap.add_argument(
        "--no-blank-lines",
        action="store_true",
        help="paragraphs one after another with no blank line, as in a PDF's text layer",
    )
    args = ap.parse_args(argv)
    try:
        import pyphen
    except ImportError:
        sys.exit("error: this script needs pyphen for its break points: pip install pyphen")
    dic = pyphen.Pyphen(lang="en_US")
    data = json.loads((Path(args.data) / "new_wiki_v1.0.json").read_text(encoding="utf-8"))
    out = Path(args.out)
    for variant in ("flat", "wrapped"):
        (out / variant).mkdir(parents=True, exist_ok=True)
    qa = []
    for k, art in enumerate(data["data"][-args.articles :]):
        name = f"a{k:02d}.txt"
        paragraphs = [p["context"].strip() for p in art["paragraphs"]]
        title = art["title"].replace("_", " ")
        (out / "flat" / name).write_text(title + "\n\n" + "\n\n".join(paragraphs) + "\n")
        gap = "\n" if args.no_blank_lines else "\n\n"
        wrapped = gap.join(wrap(p, dic.iterate) for p in paragraphs)
        (out / "wrapped" / name).write_text(title + "\n\n" + wrapped + "\n")
        asked = [
            {"id": q["id"], "question": q["question"], "answers": answers, "sources": [name]}
            for p in art["paragraphs"]
            for q in p["qas"]
            if (answers := sorted({a["text"] for a in q["answers"] if a["text"].strip()}))
        ]
        qa += asked[: args.per_article]
    (out / "qa.jsonl").write_text("".join(json.dumps(x) + "\n" for x in qa))
    print(f"{len(qa)} questions over {args.articles} articles in {out}")


if __name__ == "__main__":
    main()
