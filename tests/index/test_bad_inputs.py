"""Bad input, each with a clear outcome: odd questions, odd files, odd folders given as the
index. The table in docs/robustness.md lists every case and the test that proves it; the
cases already covered by test_service.py, test_cli.py, test_web_api.py and test_server.py
are not repeated here."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
import subprocess
import time
import tracemalloc
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from index.build import build_index, open_store
from index.service import open_index
from rag.errors import InputError, LoadError
from rag.load import load_document, read_original
from rag.settings import Settings
from ui.cli import main

MB = 1_000_000


def _words(s: str) -> list[str]:
    return re.findall(r"\w+", s.lower())


def _grounded(corpus: Path, answer) -> None:  # type: ignore[no-untyped-def]
    """Every citation's offsets hold its quote in the text read_original gives for its file."""
    for c in answer.citations:
        original, _ = read_original(corpus / c.source, c.source)
        cited = original[c.start : c.end]
        assert [w for w in _words(cited) if w in set(_words(c.quote))] == _words(c.quote), (c, cited)
        assert cited[:1] == c.quote[:1] and cited[-1:] == c.quote[-1:]


# -- questions --------------------------------------------------------------------------------
MIXED = [
    "What did Путин demand from Украина?",
    "Who rejected the ceasefire 停火 proposal?",
    "ما هو موقف Zelensky من وقف إطلاق النار؟",
    "Zelensky\u200d\u200b said what about the ceasefire\u2066?\u2069",  # joiners, bidi isolates
    "What did Pu\u0301tin say? 🇺🇦🕊️",  # a combining accent and emoji
    "Что сказал Путин о прекращении огня?",
    "\u202eWho rejected the ceasefire?",  # a right-to-left override
]


@pytest.mark.parametrize("question", MIXED)
def test_mixed_scripts_answer_or_abstain(index, built, question):
    a = index.ask(question)
    assert a.citations, "an answer or the closest passages"
    assert a.abstained or re.search(r"\[\d\]", a.answer)
    assert "\u202e" not in a.question and "\u200b" not in a.question  # control/format marks gone
    _grounded(built.corpus_dir, a)


# -- files ------------------------------------------------------------------------------------
FACT = (
    "The {name} tunnel under the Oskfjord opened in {year}. It cost {cost} billion kroner and "
    "carries {cars} cars a day.\n\nEngineers from Bergen designed its {part}."
)
SCRIPT_WORD = "glimmerwort"  # only inside <script>, <style> and <noscript>


def _html_page(kib: int) -> str:
    """A saved web page: a few KiB of text in a page whose bulk is scripts and styles."""
    blob = f"var {SCRIPT_WORD}Cache = '{'x' * 1000}';\n" * kib
    return (
        "<html><head><title>Parnu zoo news</title>"
        f"<style>body {{color: red}} .{SCRIPT_WORD} {{display: none}}</style>"
        f"<script>var {SCRIPT_WORD} = document.cookie; fetch('/steal?' + {SCRIPT_WORD});</script>"
        f"<script>{blob}</script></head><body>"
        f"<script>document.write('The {SCRIPT_WORD} festival is on Friday.')</script>"
        "<p>The zoo in Parnu bought three zebras from a park in Poland in May.</p>"
        f"<style>p::after {{content: 'The {SCRIPT_WORD} festival is on Friday.'}}</style>"
        f"<noscript>The {SCRIPT_WORD} festival is on Friday.</noscript>"
        "<p>Keepers said the zebras settled in within a week.</p></body></html>"
    )


@pytest.fixture(scope="module")
def odd(tmp_path_factory, embedder):
    """One corpus of awkward files, indexed once: (settings, report, index)."""
    root = tmp_path_factory.mktemp("odd")
    corpus = root / "corpus"
    corpus.mkdir()
    (corpus / "utf16.txt").write_bytes(
        ("Tunnel notes\n\n" + FACT.format(name="Quorbish", year=2019, cost=2.4, cars="9,000", part="fans"))
        .encode("utf-16")
    )
    (corpus / "bom.md").write_bytes(
        b"\xef\xbb\xbf"
        + ("# Report\n\n" + FACT.format(name="Tandrel", year=2007, cost=1.1, cars="4,500", part="exits"))
        .encode("utf-8")
    )
    twin = "Ferry notes\n\nThe Lusk ferry to Hanna island carries 310 passengers on each crossing.\n"
    (corpus / "a-ferry.txt").write_text(twin, encoding="utf-8")
    (corpus / "b-ferry-copy.txt").write_text(twin, encoding="utf-8")
    (corpus / "page.html").write_text(_html_page(kib=3000), encoding="utf-8")  # about 3 MB
    with open(corpus / "huge.txt", "wb") as f:
        f.truncate(50 * MB)  # 50 MB, sparse: the refusal must come before any reading
    from pypdf import PdfWriter

    w = PdfWriter()
    w.add_blank_page(612, 792)
    w.write(str(corpus / "scan.pdf"))
    outside = root / "outside"
    outside.mkdir()
    (outside / "secret.txt").write_text("The vault code of the Hollin bank is 4411.", encoding="utf-8")
    (corpus / "link.txt").symlink_to(outside / "secret.txt")
    (corpus / "linked-folder").symlink_to(outside, target_is_directory=True)
    s = Settings.from_env({}, index_dir=root / "index", corpus_dir=corpus)
    report = build_index(s, embedder=embedder)
    return s, report, open_index(s, embedder=embedder)


def test_odd_files_are_indexed_or_skipped_by_name(odd):
    _, report, _ = odd
    assert sorted(report.added) == ["a-ferry.txt", "bom.md", "page.html", "utf16.txt"]
    reasons = {k.source: k.reason for k in report.skipped}
    assert sorted(reasons) == ["b-ferry-copy.txt", "huge.txt", "link.txt", "linked-folder", "scan.pdf"]
    assert "over the limit" in reasons["huge.txt"] and "RAG_MAX_FILE_BYTES" in reasons["huge.txt"]
    assert "no text layer" in reasons["scan.pdf"]
    assert "outside the corpus" in reasons["link.txt"]
    assert "outside the corpus" in reasons["linked-folder"]
    assert "same text as a-ferry.txt" in reasons["b-ferry-copy.txt"]


@pytest.mark.parametrize(
    ("question", "source", "needle"),
    [
        ("When did the Quorbish tunnel open?", "utf16.txt", "2019"),
        ("When did the Tandrel tunnel open?", "bom.md", "2007"),
    ],
)
def test_utf16_and_bom_files_are_cited_at_the_right_offsets(odd, question, source, needle):
    s, _, idx = odd
    a = idx.ask(question)
    assert not a.abstained and needle in a.citations[0].quote
    assert a.citations[0].source == source  # the answering quote; a further one may be elsewhere
    original, _ = read_original(s.corpus_dir / source, source)
    assert not original.startswith("\ufeff")  # the BOM is not text, so offsets do not count it
    for c in a.citations:
        text, _ = read_original(s.corpus_dir / c.source, c.source)
        assert text[c.start : c.end] == c.quote


def test_oversized_file_is_refused_without_being_read(tmp_path):
    big = tmp_path / "big.txt"
    with open(big, "wb") as f:
        f.truncate(50 * MB)
    tracemalloc.start()
    try:
        with pytest.raises(LoadError, match=r"50\.0 MB is over the limit of 20\.0 MB"):
            load_document(big, "big.txt", Settings().max_file_bytes)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < MB, f"{peak} bytes allocated to refuse a 50 MB file"


def test_file_size_cap_is_exact_and_configurable(tmp_path):
    s = Settings.from_env({"RAG_MAX_FILE_BYTES": "4000"})
    line = "The Ormsby mill ground wheat for the town of Kelda until 1952.\n"
    ok = tmp_path / "ok.txt"
    ok.write_text((line * 100)[:4000], encoding="utf-8")
    assert ok.stat().st_size == s.max_file_bytes
    assert load_document(ok, "ok.txt", s.max_file_bytes).text
    over = tmp_path / "over.txt"
    over.write_text((line * 100)[:4001], encoding="utf-8")
    with pytest.raises(LoadError, match="over the limit"):
        load_document(over, "over.txt", s.max_file_bytes)


def test_pdf_text_that_unpacks_past_the_cap_is_refused(tmp_path):
    from pypdf import PdfWriter
    from pypdf.generic import DecodedStreamObject, DictionaryObject, NameObject

    w = PdfWriter()
    page = w.add_blank_page(612, 792)
    font = DictionaryObject({
        NameObject("/Type"): NameObject("/Font"), NameObject("/Subtype"): NameObject("/Type1"),
        NameObject("/BaseFont"): NameObject("/Helvetica"),
    })
    page[NameObject("/Resources")] = DictionaryObject(
        {NameObject("/Font"): DictionaryObject({NameObject("/F1"): w._add_object(font)})}
    )
    content = DecodedStreamObject()
    content.set_data(b"".join(
        b"BT /F1 12 Tf 72 %d Td (The harbour crane lifted containers again.) Tj ET\n" % (700 - i % 50 * 12)
        for i in range(4000)
    ))
    page[NameObject("/Contents")] = w._add_object(content)
    page.compress_content_streams()  # 4,000 lines of text in a few KB
    pdf = tmp_path / "packed.pdf"
    w.write(str(pdf))
    cap = 100_000
    assert pdf.stat().st_size < cap // 10
    with pytest.raises(LoadError, match="text layer is over 100,000 characters"):
        load_document(pdf, "packed.pdf", cap)
    assert "harbour crane" in load_document(pdf, "packed.pdf", 1_000_000).text


def test_large_allowed_html_keeps_its_text_and_drops_its_scripts(odd):
    s, report, idx = odd
    page = s.corpus_dir / "page.html"
    assert page.stat().st_size > 3 * MB and "page.html" in report.added
    a = idx.ask("How many zebras did the Parnu zoo buy?")
    assert not a.abstained and "three zebras" in a.answer
    # nothing from <script>, <style> or <noscript> is in the index or any answer
    _, texts = open_store(s).all_chunk_texts()
    assert not [t for t in texts if SCRIPT_WORD in t or "document." in t or "fetch(" in t]
    original, _ = read_original(page, "page.html")
    assert SCRIPT_WORD not in original and "zebras" in original
    a = idx.ask(f"When is the {SCRIPT_WORD} festival?")
    assert a.abstained
    assert all(SCRIPT_WORD not in c.quote + c.passage for c in a.citations)


def test_links_out_of_the_corpus_are_not_followed(odd):
    s, _, idx = odd
    _, texts = open_store(s).all_chunk_texts()
    assert not [t for t in texts if "vault code" in t]
    assert idx.ask("What is the vault code of the Hollin bank?").abstained


def test_duplicate_files_are_indexed_once(odd):
    s, _, idx = odd
    assert "b-ferry-copy.txt" not in {d.source for d in idx.documents()}
    a = idx.ask("How many passengers does the Lusk ferry carry?")
    assert not a.abstained and [c.source for c in a.citations] == ["a-ferry.txt"]
    # even the closest passages of an abstention never show one sentence twice
    a = idx.ask("How much does a Lusk ferry ticket cost?")
    quotes = [c.quote for c in a.citations]
    assert len(quotes) == len(set(quotes))


def test_a_duplicate_takes_over_when_the_first_copy_goes(tmp_path, embedder):
    corpus = tmp_path / "c"
    corpus.mkdir()
    text = "Bridge notes\n\nThe Ardle footbridge was repainted green in 2021.\n"
    (corpus / "one.txt").write_text(text, encoding="utf-8")
    (corpus / "two.txt").write_text(text, encoding="utf-8")
    s = Settings.from_env({}, index_dir=tmp_path / "i", corpus_dir=corpus)
    report = build_index(s, embedder=embedder)
    assert report.added == ["one.txt"] and [k.source for k in report.skipped] == ["two.txt"]
    (corpus / "one.txt").unlink()
    report = build_index(s, embedder=embedder)
    assert (report.added, report.removed, report.skipped) == (["two.txt"], ["one.txt"], [])
    # a file that becomes a copy of another is dropped, not left at its old text
    (corpus / "one.txt").write_text(text, encoding="utf-8")
    (corpus / "two.txt").write_text(text.replace("green", "blue"), encoding="utf-8")
    report = build_index(s, embedder=embedder)
    assert report.added == ["one.txt"] and report.updated == ["two.txt"]
    (corpus / "two.txt").write_text(text, encoding="utf-8")
    report = build_index(s, embedder=embedder)
    assert report.removed == ["two.txt"] and [k.source for k in report.skipped] == ["two.txt"]
    assert [d.source for d in open_store(s).documents()] == ["one.txt"]


def test_front_matter_aliases_cannot_blow_up(tmp_path):
    # "billion laughs" in YAML: nine levels of aliases would print as gigabytes
    levels = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    levels += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    doc = tmp_path / "bomb.md"
    doc.write_text(
        "---\n" + "\n".join(levels) + "\ntitle: Harbour report\n---\nThe harbour opened in 1890.\n",
        encoding="utf-8",
    )
    t = time.perf_counter()
    d = load_document(doc, "bomb.md")
    assert time.perf_counter() - t < 30  # a bound on harm, not a benchmark: unfixed, it never ends
    assert d.title == "Harbour report" and "lol" not in d.content_hash


def test_oversized_sidecar_is_refused(tmp_path):
    doc = tmp_path / "a.txt"
    doc.write_text("The harbour opened in 1890.", encoding="utf-8")
    (tmp_path / "a.txt.meta.json").write_text('{"title": "' + "x" * 200_000 + '"}', encoding="utf-8")
    with pytest.raises(LoadError, match="sidecar is over"):
        load_document(doc, "a.txt")


# -- upload names (the sanitiser lives in ui/web.py; its fixed cases are in test_web_api.py) ---
NAME_CHARS = st.sampled_from(list("abcXYZ09 ._-/\\;|&$`'\"*?<>(){}[]!#~%^=+,:\n\t\x00") + ["..", "Ü", "Кий", "文"])


@settings(max_examples=200, deadline=None)
@given(st.lists(NAME_CHARS, max_size=40).map("".join), st.sampled_from([".txt", ".md", ".PDF", ".html", ".exe", ""]))
def test_any_upload_name_becomes_a_plain_name_in_the_corpus(tmp_path_factory, stem, ext):
    from ui.web import MAX_NAME_CHARS, UPLOAD_TYPES, safe_filename, save_upload

    try:
        name = safe_filename(stem + ext)
    except InputError:
        assert ext.lower() not in UPLOAD_TYPES or not stem.strip()
        return
    assert re.fullmatch(r"[^\W][\w.-]*\.(txt|md|html|pdf)", name), name
    assert ".." not in name and len(name) <= MAX_NAME_CHARS and "/" not in name
    corpus = tmp_path_factory.mktemp("up") / "corpus"
    src = corpus.parent / "src"
    src.write_bytes(b"hello")
    saved = save_upload(src, corpus, stem + ext, 100)
    assert saved.parent == corpus.resolve() and saved.name == name
    assert sorted(p.name for p in corpus.parent.iterdir()) == ["corpus", "src"]


# -- index folders ----------------------------------------------------------------------------
def _snapshot(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        if p.is_file() else "dir"
        for p in sorted(folder.rglob("*"))
    }


def _cli(capsys, *argv: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(list(argv))
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return code, err


def test_a_damaged_index_is_a_clear_error_and_is_left_alone(built, tmp_path, capsys):
    d = tmp_path / "index"
    shutil.copytree(built.index_dir, d)
    (d / "chroma" / "chroma.sqlite3").write_bytes(os.urandom(200_000))
    before = _snapshot(d)
    code, err = _cli(capsys, "--index-dir", str(d), "ask", "Who rejected the ceasefire?")
    assert code == 2 and "damaged" in err and "rag index" in err
    code, err = _cli(capsys, "--index-dir", str(d), "--corpus", str(built.corpus_dir), "index")
    assert code == 2 and "damaged" in err
    assert _snapshot(d) == before


def test_a_foreign_folder_is_not_taken_for_an_index(built, tmp_path, capsys):
    home = tmp_path / "home"
    (home / "photos").mkdir(parents=True)
    (home / "notes.txt").write_text("my notes", encoding="utf-8")
    before = _snapshot(home)
    code, err = _cli(capsys, "--index-dir", str(home), "ask", "Who rejected the ceasefire?")
    assert code == 2 and "not an index folder" in err
    code, err = _cli(capsys, "--index-dir", str(home), "--corpus", str(built.corpus_dir), "index")
    assert code == 2 and "not an index folder" in err and "nothing was written" in err
    assert _snapshot(home) == before
    (home / "notes.txt").unlink()  # a file given as the index folder
    code, err = _cli(capsys, "--index-dir", str(home / "photos" / "x.txt"), "ask", "why?")
    assert code == 2


def _read_only(folder: Path):  # type: ignore[no-untyped-def]
    """Make ``folder`` read-only for this process: a read-only bind mount when we are root
    (root ignores file modes), else chmod. Returns an undo function, or None."""
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in [folder, *folder.rglob("*")]}
        for p in modes:
            p.chmod(modes[p] & ~0o222)

        def undo() -> None:
            for p, m in modes.items():
                p.chmod(m)

        return undo
    ok = subprocess.run(["mount", "--bind", str(folder), str(folder)], capture_output=True).returncode == 0
    if not ok:
        return None
    if subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], capture_output=True).returncode:
        subprocess.run(["umount", str(folder)], check=True)
        return None
    return lambda: subprocess.run(["umount", str(folder)], check=True)


def test_a_read_only_index_is_a_clear_error_and_stays_whole(built, embedder, tmp_path, capsys):
    d = tmp_path / "index"
    shutil.copytree(built.index_dir, d)
    corpus = tmp_path / "corpus"
    shutil.copytree(built.corpus_dir, corpus)
    (corpus / "new.txt").write_text("Ferry notes\n\nThe Orrin ferry sails at dawn.\n", encoding="utf-8")
    undo = _read_only(d)
    if undo is None:
        pytest.skip("cannot make a read-only folder here")
    try:
        before = _snapshot(d)
        code, err = _cli(capsys, "--index-dir", str(d), "--corpus", str(corpus), "index")
        assert code == 2 and "cannot be written" in err and "permissions" in err
        assert _snapshot(d) == before
    finally:
        undo()
    # writable again: the index answers as before, and indexing picks up the new file
    s = built.with_(index_dir=d, corpus_dir=corpus)
    assert open_store(s).counts() == open_store(built).counts()
    q = "Who rejected the 30-day ceasefire proposal?"
    assert open_index(s, embedder=embedder).ask(q).to_dict() == open_index(built, embedder=embedder).ask(q).to_dict()
    assert build_index(s, embedder=embedder).added == ["new.txt"]


def test_indexing_into_a_server_that_is_down_is_a_clear_error(built, tmp_path, capsys):
    # test_server.py covers asking while a real server stops and comes back; this is `rag index`
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens here once the socket closes
    url = f"http://127.0.0.1:{port}"
    code, err = _cli(
        capsys, "--chroma-url", url, "--index-dir", str(tmp_path / "i"), "--corpus", str(built.corpus_dir), "index"
    )
    assert code == 2 and "cannot be reached" in err and url in err


def test_questions_file_is_read_line_by_line_with_a_cap(built, tmp_path, capsys):
    import json

    from ui.cli import _read_questions

    f = tmp_path / "qs.txt"
    with open(f, "w", encoding="utf-8") as out:
        out.write("Who rejected the 30-day ceasefire proposal?\n")
        out.write("z" * 5 * MB + "\n")  # one line far over any question
        out.write("{not json\n")
        out.write('{"id": "q9", "question": "What did Rubio say about a military solution?"}\n')
    tracemalloc.start()
    try:
        rows = list(_read_questions(f, built.max_question_chars))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < MB, f"{peak} bytes held to read a file with a 5 MB line"
    assert [r[0] for r in rows] == ["1", "2", "3", "q9"]
    code = main(["--index-dir", str(built.index_dir), "ask", "--questions", str(f)])
    recs = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert code == 0 and [r["id"] for r in recs] == ["1", "2", "3", "q9"]
    assert "answer" in recs[0] and "answer" in recs[3]
    assert "over" in recs[1]["error"] and "JSON" in recs[2]["error"]
    code, err = _cli(capsys, "--index-dir", str(built.index_dir), "ask", "--questions", str(tmp_path / "none"))
    assert code == 2 and "no such questions file" in err


def test_an_index_in_the_older_layout_asks_for_a_rebuild_and_gets_one(built, embedder, tmp_path, capsys):
    """An index written before sentences moved into their passages' records (schema 1, with
    a collection of its own for sentences): asking says to rerun `rag index`, without a
    traceback; `rag index` drops the old collections and rebuilds, and then answers."""
    import chromadb

    from rag.errors import IndexMissingError

    s = built.with_(index_dir=tmp_path / "old")
    client = chromadb.PersistentClient(path=str(s.index_dir / "chroma"))
    for kind in ("docs", "chunks", "sentences", "meta"):
        col = client.get_or_create_collection(
            f"rag-{kind}", embedding_function=None, metadata={"hnsw:space": "cosine", "schema": 1}
        )
        col.add(ids=[f"old-{kind}"], embeddings=[[0.1] * 384], metadatas=[{"source": "x.txt"}])
    del client
    with pytest.raises(IndexMissingError, match="older version.*rag index"):
        open_index(s, embedder=embedder)
    code, err = _cli(capsys, "--index-dir", str(s.index_dir), "ask", "Who rejected the ceasefire?")
    assert code == 2 and "older version" in err and "rag index" in err and "Traceback" not in err

    report = build_index(s, embedder=embedder)
    assert len(report.added) == 5
    names = {c.name for c in chromadb.PersistentClient(path=str(s.index_dir / "chroma")).list_collections()}
    assert names == {"rag-docs", "rag-chunks", "rag-meta"}
    assert open_store(s).ids("chunks") and "old-chunks" not in open_store(s).ids("chunks")
    a = open_index(s, embedder=embedder).ask("Who rejected the ceasefire?")
    assert a.citations
