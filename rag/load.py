"""Read documents from disk: .txt, .md, .html, .pdf and .docx, decoded, with metadata and overrides.

>>> from rag.load import iter_documents     # doctest: +SKIP
>>> docs, problems = load_folder(Path("corpus"))  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from rag.clean import Cleaned, clean, parse_date
from rag.errors import InputError, LoadError
from rag.types import Document, map_range

SUPPORTED = (".txt", ".md", ".markdown", ".html", ".htm", ".pdf", ".docx")
# between a PDF's pages: a form feed on a line of its own, so every page starts a new line and
# the pages can be found again in the text alone (the viewer, a citation's page)
PAGE_BREAK = "\n\f\n"
MARKDOWN = (".md", ".markdown")  # where `*` and `_` mark emphasis
SIDECAR = ".meta.json"
MAX_SIDECAR_BYTES = 100_000  # a title, a date, an author: a bigger sidecar is a mistake


@dataclass(frozen=True)
class Skipped:
    """A file indexing passed over, and why, in words for the user."""

    source: str
    reason: str


def decode_bytes(data: bytes, name: str) -> str:
    """Text from bytes: BOMs honoured, UTF-8 first, then Windows-1252; binary refused."""
    for bom, enc in (
        (b"\xef\xbb\xbf", "utf-8-sig"),
        (b"\xff\xfe\x00\x00", "utf-32"),
        (b"\x00\x00\xfe\xff", "utf-32"),
        (b"\xff\xfe", "utf-16"),
        (b"\xfe\xff", "utf-16"),
    ):
        if data.startswith(bom):
            try:
                return data.decode(enc)
            except UnicodeDecodeError as e:
                raise LoadError(
                    f"{name}: starts with a {enc} byte-order mark but is not {enc} ({e.reason})"
                ) from None
    if b"\x00" in data[:8192]:
        raise LoadError(f"{name}: looks like a binary file (it holds NUL bytes), not text")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    # a legacy single-byte file; cp1252 is a superset of Latin-1's printable range
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        text = data.decode("latin-1")
    controls = sum(1 for ch in text[:8192] if ord(ch) < 32 and ch not in "\n\r\t\f")
    if controls > max(8, len(text[:8192]) // 100):
        raise LoadError(f"{name}: looks like a binary file, not text in any encoding tried")
    return text


def _front_matter(text: str) -> tuple[dict[str, str], int]:
    """YAML front matter (``---`` ... ``---`` at the top): its keys and how many lines it takes."""
    if not text.startswith("---"):
        return {}, 0
    lines = text.split("\n")
    if lines[0].strip() != "---":
        return {}, 0
    for k in range(1, min(len(lines), 60)):
        if lines[k].strip() in ("---", "..."):
            import yaml

            try:
                data = yaml.safe_load("\n".join(lines[1:k])) or {}
            except yaml.YAMLError:
                return {}, 0
            if not isinstance(data, dict):
                return {}, 0
            # scalars only: a list built of YAML aliases can expand to gigabytes when printed
            return {
                str(a): str(b) for a, b in data.items() if isinstance(b, str | int | float | date)
            }, k + 1
    return {}, 0


def _html_text(raw: str) -> tuple[str, dict[str, str]]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(raw, "html.parser")
    meta: dict[str, str] = {}
    if soup.title and soup.title.string:
        meta["title"] = soup.title.string.strip()
    for tag in soup.find_all("meta"):
        key = str(tag.get("property") or tag.get("name") or "").lower()
        val = tag.get("content")
        if not val:
            continue
        if key in ("og:title",) and "title" not in meta:
            meta["title"] = str(val)
        elif key in ("article:published_time", "date", "pubdate", "dc.date", "citation_date"):
            meta.setdefault("date", str(val)[:10])
        elif key in ("author", "article:author", "dc.creator", "citation_author"):
            # article:author is often a profile URL, which names no one
            if not str(val).startswith(("http://", "https://")):
                meta.setdefault("author", str(val))
        elif key in (
            "og:site_name",
            "dc.publisher",
            "citation_publisher",
            "citation_journal_title",
            "application-name",
        ):
            meta.setdefault("site", str(val).strip())
        elif key == "og:url":
            meta.setdefault("url", str(val).strip())
    for link in soup.find_all("link"):
        rel: Any = link.get("rel") or []
        if "canonical" in (rel if isinstance(rel, list) else str(rel).split()) and link.get("href"):
            meta["url"] = str(link["href"]).strip()  # the canonical link wins over og:url
    # never keep what a browser would run or hide
    for tag in soup(["script", "style", "noscript", "template", "head", "iframe", "svg"]):
        tag.decompose()
    blocks = soup.get_text("\n")
    return "\n".join(line.strip() for line in blocks.split("\n")), meta


# the Latin ligatures of Unicode's presentation forms (U+FB00-FB06), spelled out: a PDF's text
# layer carries them where a font set "fi" as one glyph. The text read from a PDF is this
# project's own, so every offset points into the spelled-out text
LIGATURES = str.maketrans(
    {chr(c): unicodedata.normalize("NFKC", chr(c)) for c in range(0xFB00, 0xFB07)}
)


def _pdf_text(path: Path, name: str, max_chars: int) -> tuple[str, dict[str, str]]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    pages: list[str] = []
    meta: dict[str, str] = {}
    chars = 0
    try:
        reader = PdfReader(str(path))
        info: Any = reader.metadata or {}
        for key, field_ in (("title", "/Title"), ("author", "/Author")):
            value = str(info.get(field_) or "").strip()
            # "Microsoft Word - report.docx" names a file, not a title
            if value and not re.search(r"\.(?:docx?|pdf|odt|rtf)$|^microsoft \w+ - ", value, re.I):
                meta[key] = value
        for page in reader.pages:
            # a form feed inside a page would read as a page break; a typeset ligature ("ﬁ"
            # in "ﬁne-tune") is its letters, as a reader and every tokenizer know them
            pages.append((page.extract_text() or "").replace("\f", " ").translate(LIGATURES))
            chars += len(pages[-1])
            # compressed streams can unpack to far more text than the file's size
            if chars > max_chars:
                raise LoadError(
                    f"{name}: its text layer is over {max_chars:,} characters "
                    "(RAG_MAX_FILE_BYTES); split the PDF"
                )
    except (PdfReadError, ValueError, KeyError, OSError) as e:
        raise LoadError(f"{name}: not a readable PDF ({e})") from None
    text = PAGE_BREAK.join(pages)
    if not text.strip():
        raise LoadError(
            f"{name}: the PDF has no text layer (a scan?); run OCR on it first, e.g. ocrmypdf"
        )
    return text, meta


def page_starts(text: str) -> tuple[int, ...]:
    """Where each page of a PDF's text (as ``read_original`` gives it) starts.

    >>> page_starts("one\\n\\f\\ntwo")
    (0, 5)
    """
    return (0, *(m.end() for m in re.finditer("\f", text)))


def _docx_text(path: Path, name: str) -> tuple[str, dict[str, str]]:
    """A .docx's paragraphs in reading order (table cells row by row), one per line."""
    import zipfile

    import docx
    from docx.opc.exceptions import PackageNotFoundError
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    try:
        document = docx.Document(str(path))
    except (PackageNotFoundError, zipfile.BadZipFile, KeyError, ValueError) as e:
        raise LoadError(f"{name}: not a readable .docx file ({e})") from None
    lines: list[str] = []
    for block in document.iter_inner_content():
        if isinstance(block, Paragraph):
            lines.append(block.text)
        elif isinstance(block, Table):
            for row in block.rows:
                for cell in row.cells:
                    lines.extend(p.text for p in cell.paragraphs)
    props = document.core_properties
    meta = {}
    # python-docx's own template says "python-docx" as author: a program, not a writer
    if props.author and props.author.strip() not in ("python-docx", ""):
        meta["author"] = props.author.strip()
    if props.title and props.title.strip():
        meta["title"] = props.title.strip()
    # a form feed would read as a page break; .docx has no reliable pages of its own
    return "\n".join(line.replace("\f", " ") for line in lines), meta


def read_original(path: Path, name: str, max_bytes: int = 20_000_000) -> tuple[str, dict[str, str]]:
    """The text every offset points into, and metadata the file format itself carries.

    For .txt and .md that is the decoded file; for .html the page's visible text; for .pdf
    its text layer, pages separated by ``PAGE_BREAK``; for .docx its paragraphs, one a line.
    Re-running this on the same file gives the same text, which is how a citation is checked
    against its source.
    """
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED:
        raise LoadError(
            f"{name}: unsupported file type {suffix or '(none)'}; use {', '.join(SUPPORTED)}"
        )
    try:
        size = path.stat().st_size
    except OSError as e:
        raise LoadError(f"{name}: cannot be read ({e.strerror})") from None
    if size > max_bytes:
        raise LoadError(
            f"{name}: {size / 1e6:.1f} MB is over the limit of {max_bytes / 1e6:.1f} MB "
            "(RAG_MAX_FILE_BYTES)"
        )
    if suffix == ".pdf":
        return _pdf_text(path, name, max_bytes)
    if suffix == ".docx":
        return _docx_text(path, name)
    try:
        data = path.read_bytes()
    except OSError as e:
        raise LoadError(f"{name}: cannot be read ({e.strerror})") from None
    text = decode_bytes(data, name)
    if suffix in (".html", ".htm"):
        return _html_text(text)
    return text, {}


def _sidecar(path: Path) -> dict[str, str]:
    side = path.with_name(path.name + SIDECAR)
    if not side.is_file():
        return {}
    if side.stat().st_size > MAX_SIDECAR_BYTES:
        raise LoadError(f"{side.name}: metadata sidecar is over {MAX_SIDECAR_BYTES:,} bytes")
    try:
        data = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise LoadError(f"{side.name}: metadata sidecar is not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise LoadError(f"{side.name}: metadata sidecar must be a JSON object")
    return {str(k): str(v) for k, v in data.items() if v is not None}


def load_document(path: Path, source: str, max_bytes: int = 20_000_000) -> Document:
    """Read, clean and describe one file. Raises ``LoadError`` with the reason."""
    original, meta = read_original(path, source, max_bytes)
    suffix = path.suffix.lower()
    front, skip = _front_matter(original) if suffix not in (".pdf", ".docx") else ({}, 0)
    pages = page_starts(original) if suffix == ".pdf" else ()
    cleaned = clean(original, skip_lines=skip, page_starts=pages, markdown=suffix in MARKDOWN)
    if not cleaned.text.strip():
        raise LoadError(f"{source}: no text left to index (the file is empty or all markup)")
    override = {**meta, **front, **_sidecar(path)}
    date = override.get("date")
    date = (parse_date(date) or (date if _iso(date) else None)) if date else cleaned.date
    title = override.get("title") or cleaned.title or _first_sentence(cleaned.text) or path.stem
    return Document(
        source=source,
        original=original,
        text=cleaned.text,
        spans=cleaned.spans,
        title=title,
        date=date,
        author=override.get("author") or cleaned.author,
        byline=cleaned.byline,
        site=override.get("site") or cleaned.site,
        url=override.get("url") or None,
        page_starts=pages,
        headings=_headings(cleaned, title),
        content_hash=hashlib.sha256(original.encode("utf-8", "surrogatepass")).hexdigest()
        + _meta_hash(override),
    )


def _headings(cleaned: Cleaned, title: str) -> tuple[tuple[int, str], ...]:
    """Each heading line's original start and text, the title's own line left out (every
    quote stands under the title; it is not a section)."""
    out = []
    for at in sorted(cleaned.headings):
        end = cleaned.text.find("\n", at)
        end = len(cleaned.text) if end == -1 else end
        text = cleaned.text[at:end].strip()
        if text and text != title.strip() and end > at:
            out.append((map_range(cleaned.spans, at, end)[0], text))
    return tuple(out)


def _meta_hash(meta: dict[str, str]) -> str:
    # an edited sidecar changes the record even when the text does not
    return (
        ""
        if not meta
        else "+" + hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()[:12]
    )


def _iso(value: str) -> bool:
    return bool(re.fullmatch(r"\d{4}-\d{2}-\d{2}", value.strip()))


def _first_sentence(text: str) -> str | None:
    first = text.split("\n", 1)[0]
    end = first.find(". ")
    cand = first if end == -1 else first[: end + 1]
    return cand if 0 < len(cand) <= 140 else None


def iter_files(root: Path) -> Iterator[tuple[Path, str]]:
    """Supported files under ``root`` (or ``root`` itself), with their corpus-relative names.

    Links that lead outside the root are not followed: a corpus cannot pull in other files.
    """
    root = root.expanduser()
    if root.is_file():
        yield root, root.name
        return
    if not root.is_dir():
        raise InputError(f"no such folder or file: {root}")
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for d in dirnames:
            p = Path(dirpath) / d
            # os.walk does not follow links; a linked folder outside is named, so the caller
            # can say why its files are missing
            if p.is_symlink() and not is_inside(p, root):
                yield p, p.relative_to(root).as_posix()
        for fn in sorted(filenames):
            if fn.startswith(".") or fn.endswith(SIDECAR):
                continue
            p = Path(dirpath) / fn
            if p.suffix.lower() not in SUPPORTED:
                continue
            rel = p.relative_to(root).as_posix()
            yield p, rel


def is_inside(path: Path, root: Path) -> bool:
    """True when ``path`` resolves (links followed) to a place under ``root``."""
    try:
        path.resolve().relative_to(root.resolve())
    except (ValueError, OSError):
        return False
    return True


def load_folder(root: Path, max_bytes: int = 20_000_000) -> tuple[list[Document], list[Skipped]]:
    """Every readable document under ``root``; unreadable ones are listed with the reason."""
    docs: list[Document] = []
    skipped: list[Skipped] = []
    base = root if root.is_dir() else root.parent
    for path, rel in iter_files(root):
        if path.is_symlink() and not is_inside(path, base):
            skipped.append(Skipped(rel, "a link that points outside the corpus folder"))
            continue
        try:
            docs.append(load_document(path, rel, max_bytes))
        except LoadError as e:
            skipped.append(Skipped(rel, str(e).removeprefix(f"{rel}: ")))
    return docs, skipped
