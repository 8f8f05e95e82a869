"""Sources that disagree: quotes from different documents that give different values of what
the question asks for (another name for the same post, another number, another year).

A pure function over an answer: it reads the question's kind ("who", "how many", "when",
"where"), finds in each document's quotes the value of that kind standing nearest the
question's own words, and compares documents. When two give values that do not match, the
quotes are grouped by document, newest first and undated last, and a one-line notice says so.

>>> from rag.types import Answer, Citation
>>> a = Answer("Who chairs the board?", "Ann Lee chairs the board. [1] Bo Chen chairs the board. [2]",
...            False, (Citation(1, "a.txt", "A", "2023-01-02", 0, 24, "Ann Lee chairs the board.", "", 1.0),
...                    Citation(2, "b.txt", "B", "2025-05-06", 0, 24, "Bo Chen chairs the board.", "", 1.0)))
>>> flagged = flag_disagreement(a)
>>> flagged.disagreement.notice
'The sources differ: [1] (2025-05-06) gives Bo Chen; [2] (2023-01-02) gives Ann Lee.'
>>> flagged.answer
'Bo Chen chairs the board. [1] Ann Lee chairs the board. [2]'
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from rag.answer import expected_type
from rag.clean import DATE_RE
from rag.lexical import STOPWORDS, normalize_token
from rag.types import Answer, Citation, Disagreement, SourceGroup

_WORD_RE = re.compile(r"[\w][\w'’.&-]*[\w%]|[\w%]")
# words that name a post or a kind of thing, not a person or place: they stand beside names
# ("Secretary-General Ann Lee", "President Bo Chen") and are not part of them
_TITLE_WORDS = frozenset(
    "president vice prime minister secretary general secretary-general chancellor chairman "
    "chairwoman chair chief director governor senator mayor king queen prince princess pope "
    "ambassador envoy adviser advisor spokesman spokeswoman spokesperson commander minister "
    "foreign defense defence state national security special deputy acting former interim "
    "mr mrs ms dr sir lord lady gen col lt sgt capt adm ceo cfo head leader premier "
    "justice judge attorney representative rep sen gov speaker official officials".split()
)
# a post held before: "former President X" is not the same answer as "President X"
_PAST_WORDS = frozenset({"former", "ex", "then", "late", "outgoing", "ousted", "previous"})
_NUMBER_WORDS = {
    w: n
    for n, w in enumerate(
        "zero one two three four five six seven eight nine ten eleven twelve thirteen fourteen "
        "fifteen sixteen seventeen eighteen nineteen twenty".split()
    )
} | {
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
    "hundred": 100,
    "thousand": 1000,
    "dozen": 12,
}
_NUMBER_RE = re.compile(r"^[$€£]?\d[\d,]*(?:\.\d+)?%?(?:-\w+)?$")
_YEAR_RE = re.compile(r"^(?:1[5-9]|20)\d\d$")


@dataclass(frozen=True)
class _Value:
    """One value of the asked kind found in a quote: how it reads, the key it is compared by,
    and how near it stands to the question's words."""

    text: str
    key: str
    nearness: float


@dataclass(frozen=True)
class _Token:
    text: str
    start: int
    end: int

    @property
    def norm(self) -> str:
        return normalize_token(self.text.strip(".").removesuffix("’s").removesuffix("'s"))


def _tokens(text: str) -> list[_Token]:
    return [_Token(m.group(0), m.start(), m.end()) for m in _WORD_RE.finditer(text)]


_ASKING_RE = re.compile(
    r"\b(?:who|whom|whose|what|when|where|which|how(?:\s+(?:many|much|long|old|far|often|large|big))?)\b",
    re.IGNORECASE,
)
WINDOW = 4  # words either side of a value in which the question's words must stand
NEAR_SHARE = 0.6  # the share of the question's words in the quote that must stand there


def _question_words(question: str) -> set[str]:
    """The question's content words, folded the way quote words are; the asking words ("how
    many", "who") left out."""
    out = set()
    for t in _tokens(_ASKING_RE.sub(" ", question)):
        for part in [t.text, *t.text.split("-")]:
            n = _Token(part, 0, 0).norm
            if n and n not in STOPWORDS:
                out.add(n)
    return out


def _matches(form: str, asked: set[str]) -> set[str]:
    """The question words ``form`` stands for: the same folded word, or for a name one that
    shares its first five letters ("Ukrainian" for "Ukraine")."""
    hit = {form} & asked
    if not hit and len(form) >= 5:
        hit = {w for w in asked if len(w) >= 5 and w[:5] == form[:5]}
    return hit


def _nearness(toks: list[_Token], first: int, last: int, asked: set[str]) -> float:
    """How close the question's words stand to the value at tokens ``first..last``: each
    question word within ``WINDOW`` words counts once, the more the nearer (1 beside it, 1/2
    one word away). 0 unless ``NEAR_SHARE`` of the question's words that the quote has stand
    there, and two at least: a value among them answers something else."""
    best: dict[str, float] = {}
    present: set[str] = set()
    for i, t in enumerate(toks):
        if first <= i <= last:
            continue
        forms = {t.norm, *(_Token(p, 0, 0).norm for p in t.text.split("-"))}
        hit = set().union(*(_matches(f, asked) for f in forms))
        present |= hit
        gap = (first - i) if i < first else (i - last)
        if gap <= WINDOW:
            for w in hit:
                best[w] = max(best.get(w, 0.0), 1.0 / gap)
    if len(best) < min(2, len(asked)) or len(best) < NEAR_SHARE * len(present):
        return 0.0
    return sum(best.values())


def role_modifiers(question: str) -> set[str]:
    """Whose post the question asks about: the capitalised words beside a title in it
    ("U.S." in "the U.S. president", "NATO" in "Secretary-General of NATO").

    >>> sorted(role_modifiers("Who is the Secretary-General of NATO, Ukraine's ally?"))
    ['nato']
    """
    toks = _tokens(question)
    out = set()
    for k, t in enumerate(toks):
        if t.norm not in _TITLE_WORDS and not set(t.text.lower().split("-")) & _TITLE_WORDS:
            continue
        # the question's first word is capitalised anyway ("Who chairs ...")
        if k > 1 and toks[k - 1].text[:1].isupper() and toks[k - 1].norm not in _TITLE_WORDS:
            out.add(toks[k - 1].norm)
        after = [x for x in toks[k + 1 : k + 4] if x.text.lower() not in ("of", "the")]
        if (
            k + 1 < len(toks)
            and toks[k + 1].text.lower() == "of"
            and after
            and after[0].text[:1].isupper()
        ):
            out.add(after[0].norm)
    return out


def _preamble(text: str, toks: list[_Token], start: int) -> list[int]:
    """The title phrase just before a name ("former Velmora mayor" before "Ann Lee"): up to
    five words right before it, ending at a punctuation mark or a stop word."""
    out: list[int] = []
    k = start - 1
    while k >= 0 and len(out) < 5 and text[toks[k].end : toks[k + 1].start].strip() == "":
        if toks[k].text.lower() in STOPWORDS:
            break
        out.append(k)
        k -= 1
    return out


def _name_runs(
    text: str, toks: list[_Token], asked: set[str], whose: set[str]
) -> list[tuple[int, int, bool]]:
    """Runs of capitalised words that read as a name (two words at least once titles, the
    question's own words and acronyms are set aside), with whether a "former" precedes them.

    When the question names whose post it asks about (``whose``: "U.S." in "the U.S.
    president"), a name under another's title ("Russian President ...") is left out."""
    runs: list[tuple[int, int, bool]] = []
    i = 0
    while i < len(toks):
        if not toks[i].text[:1].isupper():
            i += 1
            continue
        j = i
        # a run continues over single spaces only: "Meanwhile, NATO" is two runs
        while (
            j + 1 < len(toks)
            and toks[j + 1].text[:1].isupper()
            and text[toks[j].end : toks[j + 1].start] == " "
        ):
            j += 1
        keep = [
            k
            for k in range(i, j + 1)
            if toks[k].norm not in _TITLE_WORDS
            and toks[k].norm not in asked
            and toks[k].text.lower() not in STOPWORDS
            and not toks[k].text.replace(".", "").isupper()  # NATO, U.S.: bodies, not people
        ]
        # each stretch of two name words or more, once titles and the like are set aside
        stretches: list[list[int]] = []
        for k in keep:
            if stretches and stretches[-1][-1] == k - 1:
                stretches[-1].append(k)
            else:
                stretches.append([k])
        for st in stretches:
            if len(st) < 2:
                continue
            before = _preamble(text, toks, st[0])
            past = any(toks[k].norm in _PAST_WORDS for k in before)
            modifiers = [
                toks[k].norm
                for k in before
                if toks[k].text[:1].isupper()
                and toks[k].norm not in _TITLE_WORDS | _PAST_WORDS
                and toks[k].text.lower() not in STOPWORDS
            ]
            if whose and any(not _matches(m, whose) for m in modifiers):
                continue  # another country's or body's post
            runs.append((st[0], st[-1], past))
        i = j + 1
    return runs


def _names(text: str, asked: set[str], whose: set[str]) -> list[_Value]:
    toks = _tokens(text)
    out = []
    for a, b, past in _name_runs(text, toks, asked, whose):
        words = [toks[k].text.removesuffix("’s").removesuffix("'s") for k in range(a, b + 1)]
        shown = " ".join(words) + (" (former)" if past else "")
        key = normalize_token(words[-1]) + ("|former" if past else "")
        out.append(_Value(shown, key, _nearness(toks, a, b, asked)))
    return out


def _numbers(text: str, asked: set[str]) -> list[_Value]:
    text = DATE_RE.sub(lambda m: " " * len(m.group(0)), text)  # a date's digits count nothing
    toks = _tokens(text)
    out = []
    for i, t in enumerate(toks):
        w = t.text.lower().rstrip(".,")
        base = w.split("-")[0]
        if _YEAR_RE.match(w):
            continue
        if _NUMBER_RE.match(w):
            num = base.lstrip("$€£").replace(",", "")
            key = num.rstrip("%") + ("%" if "%" in num else "")
        elif base in _NUMBER_WORDS:
            key = str(_NUMBER_WORDS[base])
        else:
            continue
        out.append(_Value(t.text.rstrip(".,"), key, _nearness(toks, i, i, asked)))
    return out


def _dates(text: str, asked: set[str]) -> list[_Value]:
    toks = _tokens(text)
    out = []
    for i, t in enumerate(toks):
        w = t.text.rstrip(".,s")
        if _YEAR_RE.match(w) and w not in asked:
            # years are compared: "March 13, 2025" and "2025" agree
            out.append(_Value(w, w, _nearness(toks, i, i, asked)))
    return out


def _values(kind: str, quote: str, asked: set[str], whose: set[str]) -> list[_Value]:
    if kind == "number":
        return _numbers(quote, asked)
    if kind == "date":
        return _dates(quote, asked)
    return _names(quote, asked, whose)


def _same(a: str, b: str) -> bool:
    """Two keys name the same value; a name's spellings may differ by a letter ("Kovalenko",
    "Kowalenko") or at the end ("Zelensky", "Zelenskyy")."""
    if a == b:
        return True
    (a_name, _, a_tag), (b_name, _, b_tag) = a.partition("|"), b.partition("|")
    if a_tag != b_tag or min(len(a_name), len(b_name)) < 5 or not a_name.isalpha():
        return False
    return a_name.startswith(b_name) or b_name.startswith(a_name) or _one_edit(a_name, b_name)


def _one_edit(a: str, b: str) -> bool:
    """At most one letter added, dropped or changed ("Kovalenko", "Kowalenko")."""
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = next((k for k, (x, y) in enumerate(zip(a, b, strict=False)) if x != y), len(a))
    return a[i + (len(a) == len(b)) :] == b[i + 1 :]


def _best(values: Sequence[_Value]) -> list[_Value]:
    """The values standing nearest the question's words (ties kept); none that stand apart."""
    if not values:
        return []
    top = max(v.nearness for v in values)
    return [v for v in values if v.nearness == top and top > 0]


_WHICH_RE = re.compile(r"^\W*(?:which|what)\b", re.IGNORECASE)


def asked_kind(question: str) -> str | None:
    """What the question asks for, as the answerer reads it; "Which minister ...?" asks for
    a person too.

    >>> asked_kind("Which NATO Secretary-General is named?"), asked_kind("How many seats?")
    ('person', 'number')
    """
    kind = expected_type(question)
    if kind is None and _WHICH_RE.match(question):
        words = {t.norm for t in _tokens(question)[1:4]}
        if words & _TITLE_WORDS:
            return "person"
    return kind


def flag_disagreement(answer: Answer, question: str | None = None) -> Answer:
    """``answer``, with its quotes grouped by document and a ``Disagreement`` when documents
    give different values of what ``question`` (default: the answer's) asks for; unchanged
    when they agree, when one document answers, or when the question asks for no value."""
    question = question or answer.question
    kind = asked_kind(question)
    if answer.abstained or kind is None or len({c.source for c in answer.citations}) < 2:
        return answer
    asked = _question_words(question)
    whose = role_modifiers(question)
    by_source: dict[str, list[Citation]] = {}
    for c in answer.citations:
        by_source.setdefault(c.source, []).append(c)
    found = {
        src: _best([v for c in cits for v in _values(kind, c.quote, asked, whose)])
        for src, cits in by_source.items()
    }
    valued = {src: vals for src, vals in found.items() if vals}
    if len(valued) < 2 or _agree(list(valued.values())):
        return answer
    return _grouped(answer, kind, by_source, found)


def _agree(groups: Sequence[Sequence[_Value]]) -> bool:
    """Every two documents share a value."""
    return all(
        any(_same(a.key, b.key) for a in x for b in y)
        for n, x in enumerate(groups)
        for y in groups[n + 1 :]
    )


def _grouped(
    answer: Answer,
    kind: str,
    by_source: dict[str, list[Citation]],
    found: dict[str, list[_Value]],
) -> Answer:
    # newest document first, undated last; ties keep the answer's order
    order = sorted(
        by_source, key=lambda s: (by_source[s][0].date is None, _neg_date(by_source[s][0].date))
    )
    cits: list[Citation] = []
    groups: list[SourceGroup] = []
    for src in order:
        first = len(cits) + 1
        for c in by_source[src]:
            cits.append(replace(c, n=len(cits) + 1))
        c0 = by_source[src][0]
        shown = tuple(dict.fromkeys(v.text for v in found[src]))
        groups.append(
            SourceGroup(src, c0.title, c0.date, shown, tuple(range(first, len(cits) + 1)))
        )
    parts = []
    for g in groups:
        if not g.values:
            continue
        refs = ", ".join(f"[{n}]" for n in g.citations)
        verb = "gives" if len(g.citations) == 1 else "give"
        parts.append(f"{refs} ({g.date or 'undated'}) {verb} {' / '.join(g.values)}")
    notice = "The sources differ: " + "; ".join(parts) + "."
    text = " ".join(f"{c.quote} [{c.n}]" for c in cits)
    return replace(
        answer,
        answer=text,
        citations=tuple(cits),
        disagreement=Disagreement(kind, notice, tuple(groups)),
    )


def _neg_date(date: str | None) -> tuple[int, ...]:
    """A sort key that puts later dates first."""
    return tuple(-int(p) for p in (date or "0-0-0").split("-"))
