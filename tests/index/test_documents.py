"""Real documents end to end, with the real model and a real Chroma in a temp folder: a
multi-page PDF with running headers and footers, a .docx, an HTML page with metadata and a
text file with a sidecar; each question's citation says who, where and which page, and its
offsets point at the quote in the original.

The questions go to the rule reader: these tests check what a citation carries, not which
reader picks the sentence, and the rule reader needs no trained weights."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.metrics import GroundingChecker

pytestmark = pytest.mark.slow

PDF_PAGES = [
    [
        "Dredging of the north basin began in April after two years of planning.",
        "The contractor removed silt from berths four to nine before the autumn storms.",
    ],
    [
        "Berth Works",
        "The quay wall at berth seven was finished on 12 August, three weeks later than planned.",
        "Storm damage in July delayed the pouring of concrete at the western pier.",
    ],
    [
        "Traffic",
        "Container traffic rose by eleven percent over the quarter.",
        "Most of the growth came from the weekly feeder service to the northern islands.",
    ],
]


def make_pdf(path: Path) -> None:
    """Three pages, each with a running title at the top and the URL and page number a
    browser prints at the bottom."""
    from fpdf import FPDF

    class Report(FPDF):
        def header(self) -> None:
            self.set_font("helvetica", size=9)
            self.cell(0, 6, "Harbour Authority Quarterly Review", new_x="LMARGIN", new_y="NEXT")

        def footer(self) -> None:
            self.set_y(-15)
            self.set_font("helvetica", size=9)
            self.cell(0, 6, f"https://harbour.example.org/q3.html   Page {self.page_no()} of {{nb}}")

    pdf = Report()
    pdf.set_title("Quarterly Harbour Review")
    pdf.set_author("Mara Quill")
    pdf.set_font("helvetica", size=12)
    for page in PDF_PAGES:
        pdf.add_page()
        for line in page:
            pdf.multi_cell(0, 6, line)
            pdf.ln(2)
    pdf.output(str(path))


def make_docx(path: Path) -> None:
    import docx

    d = docx.Document()
    d.core_properties.author = "Ivo Brandt"
    d.core_properties.title = "Orchard Survey 2025"
    d.add_heading("Orchard Survey 2025", 0)
    d.add_paragraph("The survey counted trees in the valley orchards during May.")
    d.add_heading("Pear Trees", 1)
    d.add_paragraph(
        "Surveyors counted 4,210 pear trees in the lower valley. "
        "Most of them were planted after the frost of 2019."
    )
    table = d.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "Apple trees"
    table.rows[0].cells[1].text = "The apple orchards lost a fifth of their trees to canker."
    d.save(str(path))


HTML = """<!doctype html><html><head><title>Ferry timetable changes | Coast Courier</title>
<meta property="og:site_name" content="Coast Courier">
<meta name="author" content="Rhea Salt">
<meta property="article:published_time" content="2025-02-03T08:00:00Z">
<link rel="canonical" href="https://coastcourier.example.com/ferry-timetable">
</head><body><h1>Ferry timetable changes</h1>
<p>The Velmora ferry will leave pier nine at 6:40 from the first of March.</p>
</body></html>"""


@pytest.fixture(scope="module")
def docs_index(tmp_path_factory, embedder):
    from index import build_index, open_index
    from rag.settings import Settings

    base = tmp_path_factory.mktemp("documents")
    corpus = base / "corpus"
    corpus.mkdir()
    make_pdf(corpus / "harbour-review.pdf")
    make_docx(corpus / "orchard-survey.docx")
    (corpus / "ferry.html").write_text(HTML, encoding="utf-8")
    (corpus / "mill.txt").write_text(
        "Mill report\n\nThe old grain mill at Dunmore reopened as a bakery in 2023.\n",
        encoding="utf-8",
    )
    (corpus / "mill.txt.meta.json").write_text(
        json.dumps({"site": "Dunmore Gazette", "url": "https://gazette.example.net/mill",
                    "author": "Tom Reed", "date": "2024-05-06"}),
        encoding="utf-8",
    )
    settings = Settings.from_env({}, index_dir=base / "index", corpus_dir=corpus)
    report = build_index(settings, embedder=embedder)
    assert not report.skipped, report.skipped
    return open_index(settings, embedder=embedder), corpus


def _grounded(corpus: Path, answer) -> None:
    checker = GroundingChecker(corpus)
    for c in answer.citations:
        g = checker.check(c.source, c.start, c.end, c.quote)
        assert g.ok, g.reason


def test_pdf_running_headers_and_footers_are_not_text(docs_index):
    from rag.load import load_document

    _, corpus = docs_index
    doc = load_document(corpus / "harbour-review.pdf", "harbour-review.pdf")
    assert len(doc.page_starts) == 3
    assert "Quarterly Review" not in doc.text and "Page 2 of 3" not in doc.text
    assert "example.org" not in doc.text
    assert "berth seven" in doc.text and "feeder service" in doc.text
    # the running lines are gone from the text, not from the original the offsets point into
    assert doc.original.count("Harbour Authority Quarterly Review") == 3
    assert (doc.title, doc.author) == ("Quarterly Harbour Review", "Mara Quill")
    assert [h for _, h in doc.headings] == ["Berth Works", "Traffic"]


def test_a_pdf_paragraph_wrapped_over_lines_reads_as_its_sentences(tmp_path: Path):
    from fpdf import FPDF

    from rag.load import load_document
    from rag.segment import split_sentences

    said = [
        "The dredging of the outer channel began in March and is expected to take eleven "
        "weeks, during which larger vessels will be diverted to the northern anchorage.",
        "Pilots will board inbound ships two miles further out than usual, and the harbour "
        "master has asked operators to plan for delays of up to three hours on spring tides.",
        "The silt lifted from the channel is carried by barge to the reclamation site east of "
        "the container terminal, where it will raise the ground for a new storage yard.",
        "Residents along the quay have been promised that work will stop between ten at night "
        "and six in the morning, except when a tide leaves no other window for the barges.",
    ]
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.multi_cell(0, 6, "Channel Works")
    pdf.ln(2)
    for paragraph in (said[:2], said[2:]):  # wrapped at the margin, as a paper's text layer is
        pdf.multi_cell(0, 6, " ".join(paragraph))
        pdf.ln(2)
    pdf.output(str(tmp_path / "works.pdf"))
    doc = load_document(tmp_path / "works.pdf", "works.pdf")
    assert doc.original.count("\n") >= 6  # each paragraph over several lines
    sentences = split_sentences(doc)
    assert [s.text for s in sentences] == ["Channel Works", *said]
    assert [s.is_heading for s in sentences] == [True, False, False, False, False]
    assert doc.title == "Channel Works" and doc.headings == ()  # no wrapped line is a section
    s = sentences[1]  # quoted from the file across its line ends
    assert " ".join(doc.original[s.start : s.end].split()) == said[0]


def test_a_pdf_ligature_reads_as_its_letters(tmp_path: Path, monkeypatch):
    """A typeset "ﬁ" (one glyph, U+FB01) in a text layer is "fi" in the text read, so the
    words it is in match a question's; offsets point into that text, as grounding reads it."""
    from fpdf import FPDF
    from pypdf import PageObject

    from eval.metrics import GroundingChecker
    from rag.lexical import tokens
    from rag.load import load_document
    from rag.segment import split_sentences

    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    pdf.multi_cell(0, 6, "placeholder")
    pdf.output(str(tmp_path / "paper.pdf"))
    # the text layer LaTeX's fonts give (fpdf's core fonts cannot write the ligature glyphs)
    layer = "We ﬁne-tune the ﬂow model efﬁciently. It ofﬂoads the rest."
    monkeypatch.setattr(PageObject, "extract_text", lambda self, *a, **k: layer)
    doc = load_document(tmp_path / "paper.pdf", "paper.pdf")
    first = split_sentences(doc)[0]
    assert first.text == "We fine-tune the flow model efficiently."
    assert {"fine", "flow", "efficiently"} <= set(tokens(first.text))
    g = GroundingChecker(tmp_path).check("paper.pdf", first.start, first.end, first.text)
    assert g.ok, g.reason


def test_a_pdf_quote_gives_its_page_and_section(docs_index):
    index, corpus = docs_index
    a = index.ask("When was the quay wall at berth seven finished?", reader="rules")
    assert not a.abstained
    c = a.citations[0]
    assert c.source == "harbour-review.pdf" and "12 August" in a.answer
    assert (c.page, c.page_end, c.section) == (2, None, "Berth Works")
    assert c.author == "Mara Quill"
    _grounded(corpus, a)

    a = index.ask("How much did container traffic rise over the quarter?", reader="rules")
    assert not a.abstained and "eleven percent" in a.answer
    assert a.citations[0].page == 3 and a.citations[0].section == "Traffic"


def test_docx_questions_are_answered_with_grounded_citations(docs_index):
    index, corpus = docs_index
    a = index.ask("How many pear trees did the surveyors count?", reader="rules")
    assert not a.abstained and "4,210" in a.answer
    c = a.citations[0]
    assert c.source == "orchard-survey.docx"
    assert (c.author, c.title, c.section, c.page) == (
        "Ivo Brandt", "Orchard Survey 2025", "Pear Trees", None,
    )
    _grounded(corpus, a)

    a = index.ask("What share of the apple trees did canker kill?", reader="rules")
    assert not a.abstained and "a fifth" in a.answer
    _grounded(corpus, a)


def test_html_metadata_and_sidecars_fill_the_citation(docs_index):
    index, corpus = docs_index
    a = index.ask("When will the Velmora ferry leave pier nine?", reader="rules")
    c = a.citations[0]
    assert (c.source, c.site, c.author, c.date, c.url) == (
        "ferry.html", "Coast Courier", "Rhea Salt", "2025-02-03",
        "https://coastcourier.example.com/ferry-timetable",
    )
    a = index.ask("What did the old grain mill at Dunmore become?", reader="rules")
    c = a.citations[0]
    assert (c.site, c.url, c.author, c.date) == (
        "Dunmore Gazette", "https://gazette.example.net/mill", "Tom Reed", "2024-05-06",
    )
    assert c.page is None  # a text file has no pages, and none is made up
    _grounded(corpus, a)


def test_read_original_gives_the_same_text_twice(docs_index):
    from rag.load import read_original

    _, corpus = docs_index
    for name in ("harbour-review.pdf", "orchard-survey.docx"):
        assert read_original(corpus / name, name) == read_original(corpus / name, name)


def test_a_damaged_docx_is_skipped_with_a_reason(tmp_path):
    from rag.errors import LoadError
    from rag.load import load_document

    bad = tmp_path / "broken.docx"
    bad.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(LoadError, match="not a readable .docx"):
        load_document(bad, "broken.docx")
