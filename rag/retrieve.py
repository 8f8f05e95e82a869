"""Retrieval's own vocabulary: the modes, and reciprocal rank fusion of their rankings.

>>> fuse([["a", "b"], ["b", "c"]])[0][0]
'b'
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, get_args

from rag.errors import InputError

Mode = Literal["hybrid", "dense", "lexical"]
MODES: tuple[Mode, ...] = get_args(Mode)


def check_mode(mode: object) -> Mode:
    """``mode`` if it is a retrieval mode; else an ``InputError`` that names it.

    >>> check_mode("dense")
    'dense'
    """
    if mode not in MODES:
        raise InputError(
            f"the retrieval mode must be one of {', '.join(MODES)}. Currently, it is {mode!r}."
        )
    return mode  # type: ignore[return-value]


def fuse(rankings: Sequence[Sequence[str]], k: int = 60) -> list[tuple[str, float]]:
    """Reciprocal rank fusion of several best-first id lists.

    >>> fuse([["a", "b"], ["b", "c"]])[0][0]
    'b'
    """
    scores: dict[str, float] = {}
    for ranking in rankings:
        for rank, rid in enumerate(ranking):
            scores[rid] = scores.get(rid, 0.0) + 1.0 / (k + rank + 1)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
