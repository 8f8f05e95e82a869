"""The lexical side: BM25 over chunks (bm25s), and the corpus vocabulary with document counts."""

from __future__ import annotations

import json
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

_TOKEN_RE = re.compile(r"(?u)\b\w\w+\b|\b\d\b")
STOPWORDS = frozenset(
    """a about above after again against all also am an and any are as at be because been before
    being below between both but by can could did do does doing down during each few for from
    further had has have having he her here hers herself him himself his how i if in into is it
    its itself just me more most my myself no nor not of off on once only or other our ours
    ourselves out over own same she should so some such than that the their theirs them
    themselves then there these they this those through to too under until up very was we were
    what when where which while who whom why will with would you your yours yourself yourselves
    s t don now said says say according""".split()
)


def normalize_token(tok: str) -> str:
    """Lower case with light suffix folding, so "rejects", "rejected" and "rejecting" meet."""
    t = tok.lower().replace("’", "'")
    for suf in ("'s", "ing", "ed", "es", "s"):
        if t.endswith(suf) and len(t) - len(suf) >= 3 and not t.endswith("ss"):
            return t[: -len(suf)]
    return t


def date_words(iso: str | None) -> str:
    """A YYYY-MM-DD date as the words a question would use: "March 2025"."""
    if not iso:
        return ""
    import calendar

    y, m = iso[:4], int(iso[5:7]) if len(iso) >= 7 else 0
    return f"{calendar.month_name[m]} {y}" if 1 <= m <= 12 else y


def tokens(text: str) -> list[str]:
    """Content tokens of ``text``: stop words dropped, suffixes folded."""
    return [normalize_token(t) for t in _TOKEN_RE.findall(text) if t.lower() not in STOPWORDS]


def word_forms(texts: Iterable[str]) -> dict[str, str]:
    """Each content token's most common written form, in lower case ("forc" -> "forces"): the
    word its word vector is made from."""
    seen: Counter[tuple[str, str]] = Counter()
    for text in texts:
        for t in _TOKEN_RE.findall(text):
            low = t.lower()
            if low not in STOPWORDS:
                seen[(normalize_token(t), low.replace("’", "'"))] += 1
    out: dict[str, str] = {}
    for (tok, form), _ in seen.most_common():
        out.setdefault(tok, form)
    return out


class WordVectors:
    """Unit vectors of single words, by content token: how near two words are in meaning
    ("troops" and "soldiers"), for the question words a sentence words differently."""

    def __init__(self, vectors: dict[str, np.ndarray]) -> None:
        self.vectors = vectors

    def get(self, tok: str) -> np.ndarray | None:
        return self.vectors.get(tok)


class LexicalIndex:
    """BM25 over chunk texts plus document frequencies, saved to and loaded from a folder."""

    def __init__(
        self,
        ids: list[str],
        bm25: Any,
        df: dict[str, int],
        n_docs: int,
        extra: set[str] | None = None,
        forms: dict[str, str] | None = None,
    ) -> None:
        self.ids = ids
        self.forms = forms or {}  # token -> the word its vector is made from
        self.bm25 = bm25
        self.df = df
        self.n_docs = n_docs
        self.extra = extra or set()  # words of titles, authors and dates: known, but not text
        self._by_initial: dict[str, list[str]] | None = None

    @classmethod
    def build(
        cls, ids: Sequence[str], texts: Sequence[str], metadata: Sequence[str] = ()
    ) -> LexicalIndex:
        import bm25s

        toks = [tokens(t) or ["\x00empty"] for t in texts]
        bm25 = bm25s.BM25()
        if toks:
            bm25.index(toks, show_progress=False)
        df: Counter[str] = Counter()
        for t in toks:
            df.update(set(t))
        extra = {t for m in metadata for t in tokens(m)}
        forms = word_forms(texts)
        return cls(list(ids), bm25 if toks else None, dict(df), len(toks), extra, forms)

    def save(self, folder: Path) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        if self.bm25 is not None:
            self.bm25.save(str(folder / "bm25"), show_progress=False)
        (folder / "lexicon.json").write_text(
            json.dumps(
                {
                    "ids": self.ids,
                    "df": self.df,
                    "n_docs": self.n_docs,
                    "extra": sorted(self.extra),
                    "forms": self.forms,
                }
            ),
            encoding="utf-8",
        )

    @classmethod
    def load(cls, folder: Path) -> LexicalIndex:
        import bm25s

        meta = json.loads((folder / "lexicon.json").read_text(encoding="utf-8"))
        bm25 = None
        if (folder / "bm25").is_dir():
            bm25 = bm25s.BM25.load(str(folder / "bm25"), show_progress=False, verbosity=0)
        # a cache written before word forms were kept raises KeyError here, and is rebuilt
        return cls(
            meta["ids"], bm25, meta["df"], meta["n_docs"], set(meta.get("extra", [])), meta["forms"]
        )

    def idf(self, tok: str) -> float:
        """Smoothed inverse document frequency; unseen tokens get the highest value."""
        return math.log(1 + (self.n_docs + 1) / (self.df.get(tok, 0) + 0.5))

    def knows(self, tok: str) -> bool:
        return tok in self.df or tok in self.extra

    def knows_roughly(self, tok: str) -> bool:
        """Known, or a near spelling of a known word ("Ghandi" for "Gandhi")."""
        if self.knows(tok):
            return True
        if len(tok) < 5:
            return False
        # a compound the documents write as two words ("Superbowl" for "Super Bowl")
        if any(self.knows(tok[:i]) and self.knows(tok[i:]) for i in range(3, len(tok) - 2)):
            return True
        import difflib

        if self._by_initial is None:
            groups: dict[str, list[str]] = {}
            for w in list(self.df) + list(self.extra):
                groups.setdefault(w[:1], []).append(w)
            self._by_initial = groups
        pool = self._by_initial.get(tok[:1], [])
        return bool(difflib.get_close_matches(tok, pool, n=1, cutoff=0.8))

    def search(
        self, query: str, k: int, allowed: set[str] | None = None
    ) -> list[tuple[str, float]]:
        """Top ``k`` chunk ids by BM25, best first, optionally only among ``allowed`` ids."""
        if self.bm25 is None or not self.ids:
            return []
        q = [t for t in tokens(query) if t in self.bm25.vocab_dict]
        if not q:
            return []
        mask = None
        if allowed is not None:
            mask = np.array([i in allowed for i in self.ids], dtype=np.float32)
            if not mask.any():
                return []
        kk = min(k, len(self.ids))
        res, scores = self.bm25.retrieve(
            [q], k=kk, show_progress=False, weight_mask=mask, n_threads=1
        )
        return [
            (self.ids[int(i)], float(s)) for i, s in zip(res[0], scores[0], strict=True) if s > 0
        ]
