"""Cleaning that keeps provenance: what a reader would not count as the article goes, and every
character that stays remembers where it stood in the original file.

>>> c = clean("Title\\n\\nWritten by [Ann Lee](#) on March 3, 2025\\n\\nShe [said](#) so.\\nComments\\n")
>>> c.text
'Title\\nShe said so.'
>>> c.author, c.date
('Ann Lee', '2025-03-03')
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date as _date
from functools import lru_cache
from pathlib import Path

from rag.types import Byline, Span

_MONTHS = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
    r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)\.?"
)
# "March 13, 2025", "Mar 13, 2025", "13 March 2025", "2025-03-13"
DATE_RE = re.compile(
    rf"\b(?:{_MONTHS}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}"
    rf"|\d{{1,2}}\s+{_MONTHS}\s+\d{{4}}"
    rf"|\d{{4}}-\d{{2}}-\d{{2}})\b"
)
_TIME_RE = re.compile(r"^\s*\d{1,2}:\d{2}\s*(?:[AaPp]\.?[Mm]\.?)?\s*,?\s*")
_BYLINE_RE = re.compile(
    r"^(?:written\s+by|by)\s+(?P<who>[^\d,|]{2,60}?)(?:\s*(?:\bon\b|[|,·—–-])\s*(?P<rest>.*))?$",
    re.IGNORECASE,
)
# promotional lines: subscription pitches, sign-up boxes, paywall blurbs
_PROMO_RE = re.compile(
    r"\b(?:subscribe|subscription|subscriber|newsletter|sign[ -]up|money[- ]back|cancel anytime|"
    r"ad[- ]free|print edition|digital edition|digital access|unlimited access|"
    r"become a member|support our journalism|donate)\b",
    re.IGNORECASE,
)
_COMMENTS_RE = re.compile(
    r"^(?:\d+\s+)?(?:comments?|leave a (?:comment|reply)|show comments|join the discussion)"
    r"(?:\s*\(\d+\))?:?$",
    re.IGNORECASE,
)
# list bullets only: a leading "2." may be part of the text ("compressed O\n2. This method")
_BULLET_RE = re.compile(r"^\s*[-*•+]\s+")
_HEADING_RE = re.compile(r"^\s*#{1,6}\s+")
_LINK_RE = re.compile(r"!?\[([^\]\n]*)\]\([^)\n]*\)")
_EMPH_RE = re.compile(r"(\*\*|__|\*|_)(?=\S)([^*_\n]+?)(?<=\S)\1")
_TERMINAL = (".", "!", "?", '"', "”", "'", "’", ":", "…", ")")

# an outlet's name: a few capitalised words, "The" allowed in front ("The Daily Record")
_OUTLET = r"(?:[Tt]he\s+)?[A-Z][\w&'’.-]*(?:\s+(?:of\s+|&\s+)?[A-Z][\w&'’.-]*){0,4}"
_OUTLET_RE = re.compile(rf"^{_OUTLET}$")
# what follows a byline's name that is a role, not an outlet ("By Ann Lee, Staff Writer")
_ROLE_WORDS = frozenset(
    "writer reporter correspondent editor contributor columnist journalist staff author "
    "photographer producer analyst updated published posted".split()
)
# "<Outlet> Staff" names the outlet; these words name a desk, not an outlet ("Desk Staff")
_DESK_WORDS = frozenset(
    "desk news editorial web wire newsroom digital online staff sports metro business "
    "politics world local national international the our".split()
)
# only the fixed words match in any case: the outlet's name must be capitalised
_STAFF_RE = re.compile(rf"^(?P<site>{_OUTLET})\s+(?i:staff|team|desk|newsroom)$")
# a subscription pitch names the outlet: "Subscribe to the Daily Record"
_SUBSCRIBE_RE = re.compile(rf"^(?i:subscribe\s+(?:now\s+)?to)\s+(?P<site>{_OUTLET})[.!]?$")
# a page number alone at the top or bottom of a page: "3", "- 3 -", "Page 3", "3 of 7", "3/7"
_PAGE_NO_RE = re.compile(
    r"^[-–—\s]*(?:page\s*)?\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?[-–—\s]*$", re.IGNORECASE
)
RUNNING_ZONE = 3  # lines at the top and at the bottom of a page where running lines stand


def parse_date(text: str) -> str | None:
    """The first date written in ``text`` as YYYY-MM-DD, or None.

    >>> parse_date("08:56 PM, Mar 13, 2025"), parse_date("Moscow, June 15, 2024 — Putin")
    ('2025-03-13', '2024-06-15')
    """
    from dateutil import parser as dateparser

    m = DATE_RE.search(text)
    if not m:
        return None
    try:
        d = dateparser.parse(m.group(0), default=None)  # type: ignore[arg-type]
    except (ValueError, OverflowError, TypeError):
        return None
    if d is None or not 1900 <= d.year <= 2200:
        return None
    return _date(d.year, d.month, d.day).isoformat()


@dataclass
class Cleaned:
    """The cleaned text, its map back to the original, and metadata found along the way."""

    text: str
    spans: tuple[Span, ...]
    title: str | None = None
    date: str | None = None
    author: str | None = None
    headings: frozenset[int] = field(default_factory=frozenset)  # clean offsets of heading lines
    byline: Byline | None = None  # the line that named the author
    site: str | None = None  # the outlet, when a byline or a subscription line names it


class _Builder:
    """Appends fragments of the original and records the spans that map them back."""

    def __init__(self, original: str) -> None:
        self.original = original
        self.parts: list[str] = []
        self.spans: list[Span] = []
        self.size = 0

    def add(self, orig_start: int, orig_end: int, as_text: str | None = None) -> None:
        """Append ``original[orig_start:orig_end]``, or ``as_text`` of the same length in its
        place (a space for a line break that only wraps a sentence)."""
        if orig_end <= orig_start:
            return
        last = self.spans[-1] if self.spans else None
        if (
            last
            and last.orig_start + last.length == orig_start
            and (last.clean_start + last.length == self.size)
        ):
            self.spans[-1] = Span(
                last.clean_start, last.orig_start, last.length + orig_end - orig_start
            )
        else:
            self.spans.append(Span(self.size, orig_start, orig_end - orig_start))
        text = self.original[orig_start:orig_end] if as_text is None else as_text
        assert len(text) == orig_end - orig_start
        self.parts.append(text)
        self.size += orig_end - orig_start


Cut = tuple[int, int]  # a half-open range of a line to drop


def _markup(line: str, markdown: bool, markers: bool = True) -> list[list[Cut]]:
    """The line's markup as groups of cuts, each group dropped whole or not at all: a heading
    or bullet marker (with ``markers``), a link's brackets and target, and (in Markdown only,
    where ``*`` and ``_`` mean emphasis) an emphasis's two delimiters."""
    groups: list[list[Cut]] = []
    m = (_HEADING_RE.match(line) or _BULLET_RE.match(line)) if markers else _HEADING_RE.match(line)
    if m:
        groups.append([(0, m.end())])
    for m in _LINK_RE.finditer(line):
        # keep only the link text: "[text](#)" -> "text"
        groups.append([(m.start(), m.start(1)), (m.end(1), m.end())])
    if markdown:
        for m in _EMPH_RE.finditer(line):
            n = len(m.group(1))
            groups.append([(m.start(), m.start() + n), (m.end() - n, m.end())])
    return groups


def _pieces(line: str, cuts: list[Cut]) -> list[Cut]:
    """The ranges of ``line`` that no cut covers."""
    kept: list[Cut] = []
    pos = 0
    for a, b in sorted(cuts):
        if b <= a:
            continue  # an empty cut must not split a piece in two
        if a > pos:
            kept.append((pos, a))
        pos = max(pos, b)
    if pos < len(line):
        kept.append((pos, len(line)))
    return kept


def _unglued(line: str, groups: list[list[Cut]]) -> list[Cut]:
    """The pieces left once markup is cut, except markup whose removal would join two words:
    "clean*maintainable*easy" keeps its stars rather than read "cleanmaintainableeasy", a word
    that is in no file and that no citation could be found by."""
    while True:
        kept = _pieces(line, [c for g in groups for c in g])
        gaps = [
            (x[1], y[0])
            for x, y in zip(kept, kept[1:], strict=False)
            if line[x[1] - 1].isalnum() and line[y[0]].isalnum()
        ]
        if not gaps:
            return kept
        groups = [
            g for g in groups if not any(ga <= a and b <= gb for a, b in g for ga, gb in gaps)
        ]


def _inline_fragments(line: str, base: int, markdown: bool = True) -> list[tuple[int, int]]:
    """Original ranges of a line's text once links, markers and (in Markdown) emphasis are
    dropped, without whitespace at either end."""
    kept = _unglued(line, _markup(line, markdown))
    # trim whitespace at both ends, dropping pieces that are only whitespace
    while kept:
        a, b = kept[0]
        lead = len(line[a:b]) - len(line[a:b].lstrip())
        if a + lead < b:
            kept[0] = (a + lead, b)
            break
        kept.pop(0)
    while kept:
        a, b = kept[-1]
        trail = len(line[a:b]) - len(line[a:b].rstrip())
        if b - trail > a:
            kept[-1] = (a, b - trail)
            break
        kept.pop()
    return [(base + a, base + b) for a, b in kept]


def _plain(line: str, markdown: bool = True) -> str:
    """A line's visible text (links, heading marker and, in Markdown, emphasis gone; a bullet
    kept), for classifying it: the same cuts as the cleaned text."""
    kept = _unglued(line, _markup(line, markdown, markers=False))
    return "".join(line[a:b] for a, b in kept).strip()


# a hyphen, the Unicode hyphen, or a soft hyphen (a break point a typesetter may use, shown
# only where it breaks a word)
HYPHENS = "-\u2010\u00ad"
_LETTERS_RE = re.compile(r"[^\W\d_]+")
# a line ending in a word broken at a hyphen: the word's part before it, and the hyphen
_BROKEN_RE = re.compile(rf"([^\W\d_]+)([{HYPHENS}])$")
_COMPOUND_RE = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)+")


@lru_cache(maxsize=1)
def dictionary() -> frozenset[str]:
    """The whole words (in lower case, two letters or more) of the embedding model's
    word-piece vocabulary, about 20,000 English words: what tells a word a typesetter broke at
    a line's end ("archi-" "tecture") from a compound broken at its own hyphen ("well-"
    "known") when the document itself does not say."""
    from rag.embed import model_dir

    vocab = (Path(model_dir()) / "vocab.txt").read_text(encoding="utf-8").split("\n")
    return frozenset(w for w in vocab if len(w) > 1 and w.isalpha() and w.islower())


def _rejoined(lines: Sequence[str], hyphen_breaks: set[int]) -> set[int]:
    """Of the lines in ``hyphen_breaks`` (each goes on a line that ends in "letters-"), those
    where the hyphen only broke a word and goes: the word whole occurs elsewhere in the
    document; or, unless the document writes the pair with its hyphen elsewhere, the word is
    in ``dictionary()``, or either part is not a word (neither in the document, away from such
    breaks, nor in the dictionary) or the first has under 3 letters ("un-" "surprising"). A
    compound ("well-" "known", "fine-" "tune") keeps its hyphen, as a typesetter leaves it; a
    soft hyphen always goes."""
    edges = hyphen_breaks | {i - 1 for i in hyphen_breaks}
    words: set[str] = set()
    compounds: set[str] = set()
    for i, text in enumerate(lines):
        found = _LETTERS_RE.findall(text)
        if i in hyphen_breaks:
            found = found[1:]
        if i + 1 in hyphen_breaks:
            found = found[:-1]
        words.update(w.lower() for w in found)
        if i not in edges:
            compounds.update(c.lower() for c in _COMPOUND_RE.findall(text))
    known = dictionary()
    out = set()
    for i in hyphen_breaks:
        left_m = _BROKEN_RE.search(lines[i - 1])
        right_m = _LETTERS_RE.match(lines[i])
        if left_m is None or right_m is None:
            continue
        left, right = left_m.group(1).lower(), right_m.group(0).lower()
        whole = left + right
        if whole in words or left_m.group(2) == "\u00ad":
            out.add(i)
        elif f"{left}-{right}" in compounds:
            continue
        elif whole in known or len(left) < 3:
            out.add(i)
        elif not all(w in words or w in known for w in (left, right)):
            out.add(i)
    return out


# lines of a hard-wrapped text (a PDF's text layer, a plain-text file wrapped at 72 columns)
# are at most this long; longer lines are paragraphs. Narrower than WRAP_MIN, they are a list
WRAP_MAX = 200
WRAP_MIN = 30
PARAGRAPH_LINES = 15  # lines a paragraph runs to, on average, at most; a page runs to more


def wrap_width(lengths: Sequence[int], open_ends: Sequence[bool]) -> int | None:
    """The width a text's lines were wrapped at, or None when its lines are paragraphs.

    Hard-wrapped, most lines run close to one width and most of those stop mid-sentence
    (``open_ends``: no closing punctuation); a text whose lines are paragraphs has lines of
    any length, nearly all of them ending a sentence."""
    if len(lengths) < 4:
        return None
    width = sorted(lengths)[(9 * (len(lengths) - 1)) // 10]
    if not WRAP_MIN <= width <= WRAP_MAX:
        return None
    full = [o for n, o in zip(lengths, open_ends, strict=True) if n >= 0.7 * width]
    if len(full) < 0.5 * len(lengths) or sum(full) < 0.5 * len(full):
        return None
    return width


def soft_breaks(lines: Sequence[tuple[int, str]]) -> set[int]:
    """Of ``(index, visible text)`` lines in order, the indices of those that go on the
    sentence of the line before, in a hard-wrapped text: the line before is adjacent, nearly
    the wrap width long and stops mid-sentence (or, where blank lines part the paragraphs, ends
    a sentence), and this one is no list item. A heading, short, never goes on."""
    open_end = [not t.endswith(_TERMINAL) for _, t in lines]
    width = wrap_width([len(t) for _, t in lines], open_end)
    if width is None:
        return set()
    # a text that leaves a blank line between its paragraphs (blocks of a few lines, not a
    # PDF's pages) ends a paragraph only there: a full line that ends a sentence goes on too
    blocks = 1 + sum(lines[k][0] > lines[k - 1][0] + 1 for k in range(1, len(lines)))
    by_blank = blocks >= 2 and len(lines) <= PARAGRAPH_LINES * blocks
    return {
        i
        for k, (i, text) in enumerate(lines[1:], start=1)
        if lines[k - 1][0] == i - 1
        and (open_end[k - 1] or by_blank)
        and len(lines[k - 1][1]) >= 0.6 * width
        and not _BULLET_RE.match(text)
    }


def is_heading_line(text: str) -> bool:
    """A short line without closing punctuation reads as a heading, not a sentence."""
    t = text.strip()
    return bool(t) and not t.endswith(_TERMINAL) and len(t.split()) <= 15


def clean(
    original: str, skip_lines: int = 0, page_starts: tuple[int, ...] = (), *, markdown: bool = True
) -> Cleaned:
    """Drop bylines, header metadata, promo blocks, comment trailers, repeats and blank runs.

    ``skip_lines`` leading lines (front matter the loader already read) are dropped too.
    With ``page_starts`` (a PDF's pages, as offsets into ``original``), lines that stand at
    the top or bottom of most pages go as well: running titles, page numbers, and the URL and
    date a browser prints on every page. ``markdown``: the text is Markdown, where ``*`` and
    ``_`` mark emphasis; elsewhere (a plain-text review, a web page's text) they are the
    writer's own characters and stay. In a hard-wrapped text (a PDF's text layer, a file
    wrapped at 72 columns) a line break inside a sentence reads as a space (``soft_breaks``),
    so each cleaned line is a paragraph or a heading, as in a text whose lines are paragraphs.
    """
    lines: list[tuple[int, str]] = []  # (offset of line start, line without its newline)
    pos = 0
    for raw in original.split("\n"):
        lines.append((pos, raw.rstrip("\r")))
        pos += len(raw) + 1

    plain = [_plain(t, markdown) for _, t in lines]
    nonblank = [i for i, p in enumerate(plain) if p and i >= skip_lines]
    drop: set[int] = set(range(min(skip_lines, len(lines))))
    drop |= _running_lines(lines, plain, page_starts)
    nonblank = [i for i in nonblank if i not in drop]
    date: str | None = None
    author: str | None = None
    site: str | None = None
    byline: int | None = None  # the line the author came from

    # header metadata: bylines anywhere, and in the first lines short bullets and bare dates
    head = set(nonblank[:8])
    for i in nonblank:
        p = plain[i]
        bm = _BYLINE_RE.match(p)
        if bm and len(p.split()) <= 14 and not p.endswith("."):
            drop.add(i)
            if author is None:
                author, byline = bm.group("who").strip(), i
                site = _outlet_after_byline(bm.group("rest") or "")
            date = date or parse_date(bm.group("rest") or "")
            continue
        if i in head:
            bare = _TIME_RE.sub("", _BULLET_RE.sub("", p))
            d = parse_date(bare)
            if d and len(bare) <= 40:
                drop.add(i)
                date = date or d
                continue
            if _BULLET_RE.match(lines[i][1]) and len(p.split()) <= 4 and not p.endswith("."):
                drop.add(i)
                words = bare.split()
                # "- In Reports" is a section; "- Jane Roe" or "- Desk Staff" names the writer
                if words and words[0].lower() not in {"in", "on", "at", "from", "home", "news"}:
                    if author is None:
                        author, byline = bare, i
                continue

    if site is None and author is not None and (m := _STAFF_RE.match(author)):
        if m.group("site").split()[0].lower() not in _DESK_WORDS:
            site = m.group("site")
    if site is None:
        site = next(
            (m.group("site") for i in nonblank if (m := _SUBSCRIBE_RE.match(plain[i]))), None
        )
    if site and site[:4] == "the ":
        site = "The " + site[4:]  # "Subscribe to the Daily Record": the name is "The Daily Record"
    # a promo block in the second half of the article runs to its end
    body = [i for i in nonblank if i not in drop]
    for k, i in enumerate(body):
        if k >= len(body) // 2 and _PROMO_RE.search(plain[i]) and len(plain[i]) <= 200:
            drop.update(body[k:])
            break
    for i in body:  # stray promo lines elsewhere: short ones only, never article prose
        if _PROMO_RE.search(plain[i]) and len(plain[i].split()) <= 8 and not plain[i].endswith("."):
            drop.add(i)
    # "Comments" trailers at the end
    for i in reversed([i for i in nonblank if i not in drop]):
        if _COMMENTS_RE.match(plain[i]):
            drop.add(i)
        else:
            break
    # repeated lines (a headline printed twice, a byline after a page break) keep the first
    seen: set[str] = set()
    for i in nonblank:
        if i in drop:
            continue
        key = " ".join(plain[i].lower().split())
        if key in seen and len(key) > 15:
            drop.add(i)
        seen.add(key)

    # a hard-wrapped text's lines join into its sentences: such a break becomes a space. A
    # Markdown heading ("## ...") is a line of its own whatever its length
    joinable = [
        (i, plain[i])
        for i in range(len(lines))
        if i not in drop and plain[i] and not (markdown and _HEADING_RE.match(lines[i][1]))
    ]
    soft = soft_breaks(joinable)
    hyphen_breaks = {i for i in soft if _BROKEN_RE.search(plain[i - 1])}
    rejoined = _rejoined(plain, hyphen_breaks) if hyphen_breaks else set()
    b = _Builder(original)
    headings: set[int] = set()
    kept: list[str] = []
    prev_end: int | None = None  # original offset of the newline after the last kept line
    for i, (start, text) in enumerate(lines):
        if i in drop or not plain[i]:
            continue
        frags = _inline_fragments(text, start, markdown)
        if not frags:
            continue
        if prev_end is not None:
            # the paragraph break is the original's own newline; a wrap, a space in its place,
            # or nothing after a hyphen ("well-" "known" reads "well-known"; "archi-"
            # "tecture" reads "architecture", its hyphen gone too: ``_rejoined``)
            if i not in soft:
                b.add(prev_end, prev_end + 1)
            elif i not in hyphen_breaks:
                b.add(prev_end, prev_end + 1, " ")
        if is_heading_line(plain[i]) and i not in soft and i + 1 not in soft:
            headings.add(b.size)
        if i + 1 in rejoined and original[frags[-1][1] - 1] in HYPHENS:
            s, e = frags[-1]
            frags = [*frags[:-1], (s, e - 1)]  # the line's last character, its hyphen, goes
        for s, e in frags:
            if e > s:
                b.add(s, e)
        kept.append(plain[i])
        nl = original.find("\n", start + len(text))
        prev_end = nl if nl != -1 else None
    return Cleaned(
        text="".join(b.parts),
        spans=tuple(b.spans),
        title=_title(kept),
        date=date or parse_date(" ".join(kept[:3])[:300]),
        author=author,
        headings=frozenset(headings),
        byline=_line_range(lines[byline], original, markdown) if byline is not None else None,
        site=site,
    )


def _outlet_after_byline(rest: str) -> str | None:
    """The outlet a byline names after the writer ("By Ann Lee | The Daily Record, May 2"),
    or None when what follows is only a date or a role ("Staff Writer")."""
    rest = _TIME_RE.sub("", DATE_RE.sub(" ", rest))
    rest = re.sub(r"\b(?:on|at|updated|published)\b", " ", rest, flags=re.IGNORECASE)
    for part in re.split(r"\s*[|,·—–]\s*|\s+-\s+", rest):
        part = part.strip(" .-")
        if (
            part
            and _OUTLET_RE.match(part)
            and not _ROLE_WORDS & {w.lower().strip(".") for w in part.split()}
        ):
            return part
    return None


def _shape(line: str) -> str:
    """A short line with its numbers blanked: "Page 3 of 7" and "Page 4 of 7" are one running
    line. A long one must repeat as it is: prose differs in more than its numbers."""
    text = " ".join(line.lower().split())
    return re.sub(r"\d+", "#", text) if len(text.split()) <= 12 else text


def _running_lines(
    lines: list[tuple[int, str]], plain: list[str], page_starts: tuple[int, ...]
) -> set[int]:
    """Lines that repeat in the same place on most pages (at least two), or that hold only a
    page number there: a printer's furniture, not the document's text."""
    if len(page_starts) < 2:
        return set()
    pages: list[list[int]] = [[] for _ in page_starts]
    for i, (start, _) in enumerate(lines):
        if plain[i]:
            pages[max(0, bisect_right(page_starts, start) - 1)].append(i)
    edges = [dict.fromkeys(p[:RUNNING_ZONE] + p[-RUNNING_ZONE:]) for p in pages]
    seen: dict[str, set[int]] = defaultdict(set)  # shape -> pages it stands on
    for n, edge in enumerate(edges):
        for i in edge:
            seen[_shape(plain[i])].add(n)
    need = max(2, (len([p for p in pages if p]) + 1) // 2)
    return {
        i
        for edge in edges
        for i in edge
        if len(seen[_shape(plain[i])]) >= need or _PAGE_NO_RE.match(plain[i])
    }


def _line_range(line: tuple[int, str], original: str, markdown: bool) -> Byline | None:
    """The original range of a line's visible text, and that text with its markup dropped."""
    frags = _inline_fragments(line[1], line[0], markdown)
    if not frags:
        return None
    return Byline(frags[0][0], frags[-1][1], "".join(original[a:b] for a, b in frags))


def _title(kept: list[str]) -> str | None:
    """The headline: the first line if it reads as one, else a headline just below a dek."""
    for k, line in enumerate(kept[:3]):
        if (
            not line.endswith((".", "!", "?"))
            and len(line.split()) <= 25
            and (k == 0 or len(line.split()) >= 3)
        ):
            return line
    if kept and len(kept[0]) <= 120:
        return kept[0]
    return None
