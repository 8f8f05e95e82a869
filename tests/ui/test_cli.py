"""The CLI as a user drives it: flags, output shapes, and clear errors with exit code 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import ROOT
from ui.cli import main


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_ask_json_markdown_and_text(built, capsys):
    d = str(built.index_dir)
    code, out, _ = _run(
        capsys,
        "--index-dir",
        d,
        "ask",
        "--json",
        "Who dismissed Putin's conditions as unacceptable?",
    )
    assert code == 0
    data = json.loads(out)
    assert data["citations"] and data["answer"].endswith("]")
    code, out, _ = _run(
        capsys,
        "--index-dir",
        d,
        "ask",
        "--markdown",
        "Who dismissed Putin's conditions as unacceptable?",
    )
    assert code == 0 and out.startswith("### ") and "\n> " in out and "characters" in out
    code, out, _ = _run(
        capsys, "--index-dir", d, "ask", "Who dismissed Putin's conditions as unacceptable?"
    )
    assert code == 0 and "Sources:" in out


def test_settings_flags_go_before_or_after_the_command_and_after_wins(built, capsys, tmp_path):
    q = "Who dismissed Putin's conditions as unacceptable?"
    code, out, _ = _run(capsys, "ask", "--index-dir", str(built.index_dir), "--json", q)
    assert code == 0 and json.loads(out)["citations"]
    missing = str(tmp_path / "none")
    code, out, _ = _run(capsys, "--index-dir", missing, "ask", "--index-dir", str(built.index_dir), q)
    assert code == 0 and "Sources:" in out
    code, _, err = _run(capsys, "--index-dir", str(built.index_dir), "ask", "--index-dir", missing, q)
    assert code == 2 and f"no index at {missing}" in err


def test_questions_file_gives_one_json_per_line(built, capsys, tmp_path):
    f = tmp_path / "qs.jsonl"
    f.write_text(
        '{"id": "a", "question": "What did Rubio say about a military solution?"}\n'
        '{"id": "b", "question": ""}\n',
        encoding="utf-8",
    )
    code, out, err = _run(
        capsys, "--index-dir", str(built.index_dir), "ask", "--questions", str(f)
    )
    lines = [json.loads(x) for x in out.splitlines()]
    assert code == 0 and [x["id"] for x in lines] == ["a", "b"]
    assert "answer" in lines[0] and "error" in lines[1]
    refused = int(lines[0]["abstained"])
    assert f"1 answered ({refused} refused as not in the documents), 1 not asked" in err
    plain = tmp_path / "qs.txt"
    plain.write_text("Who is Jens Stoltenberg?\nWhat is NATO?\n", encoding="utf-8")
    code, out, _ = _run(
        capsys, "--index-dir", str(built.index_dir), "ask", "--questions", str(plain)
    )
    assert [json.loads(x)["id"] for x in out.splitlines()] == ["1", "2"]


def test_questions_file_echoes_each_id_with_its_json_type(built, capsys, tmp_path):
    f = tmp_path / "qs.jsonl"
    f.write_text(
        '{"id": 7, "question": "Who is Jens Stoltenberg?"}\n'
        '{"id": "7", "question": "Who is Jens Stoltenberg?"}\n'
        '{"id": 2.5, "question": ""}\n'
        '{"id": null, "question": "What is NATO?"}\n'
        '{"question": "What is NATO?"}\n'
        '{"id": 9}\n',
        encoding="utf-8",
    )
    code, out, _ = _run(capsys, "--index-dir", str(built.index_dir), "ask", "--questions", str(f))
    ids = [json.loads(x)["id"] for x in out.splitlines()]
    assert code == 0 and ids == [7, "7", 2.5, None, "5", 9]
    assert [type(i) for i in ids[:3]] == [int, str, float]


def test_contradictory_output_flags_are_a_usage_error(capsys, tmp_path):
    # refused before anything is loaded: the index folder does not even exist
    d = str(tmp_path / "none")
    code, out, err = _run(capsys, "--index-dir", d, "ask", "--json", "--markdown", "Who?")
    assert code == 2 and not out and "--json or --markdown, not both" in err
    f = tmp_path / "qs.txt"
    f.write_text("Who?\n", encoding="utf-8")
    for extra in (["--markdown"], ["Who?"]):
        code, out, err = _run(capsys, "--index-dir", d, "ask", "--questions", str(f), *extra)
        assert code == 2 and not out and "--questions prints one JSON object per line" in err
    for extra in (["--json", "Who?"], ["--questions", str(f)]):
        code, out, err = _run(capsys, "--index-dir", d, "ask", "--cite-style", "apa", *extra)
        assert code == 2 and not out and "--cite-style formats the printed references" in err


def test_errors_are_one_line_not_tracebacks(capsys, tmp_path, built):
    code, _, err = _run(capsys, "--index-dir", str(tmp_path / "none"), "ask", "anything at all?")
    assert code == 2 and "rag index" in err and "Traceback" not in err
    code, _, err = _run(capsys, "--index-dir", str(built.index_dir), "ask", "   ")
    assert code == 2 and "empty" in err
    code, _, err = _run(capsys, "--index-dir", str(built.index_dir), "ask", "y" * 100_000)
    assert code == 2 and "limit" in err
    code, _, err = _run(capsys, "--top-k", "0", "ask", "hi?")
    assert code == 2 and "top_k" in err
    code, _, err = _run(capsys, "index", str(tmp_path / "no-such-folder"))
    assert code == 2 and "no such folder" in err


def test_help_is_fast_and_needs_no_torch():
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    code = "import sys; from ui.cli import main; main(['--help']); print('torch' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=60
    )
    assert out.returncode == 0 and out.stdout.strip().endswith("False")


# one question per bundled article, each answered from that article
BY_ARTICLE = {
    "000_f10ab0ace30fccea.txt": "What share of the Kursk territory has Russia recaptured, according to Gerasimov?",
    "001_2d1fce554b13bff5.txt": "What did Rubio say about a military solution?",
    "002_b8e9ef5253d98c4a.txt": "Who dismissed Putin's conditions as unacceptable?",
    "003_40ee7686d6f7b35d.txt": "How many members does NATO have today?",
    "004_0401356ff1198cfb.txt": "How many soldiers were interviewed about the ceasefire?",
}


def test_cite_style_apa_gives_author_outlet_date_title_and_locator(built, index, capsys, monkeypatch):
    """`rag ask --cite-style apa` on the bundled corpus: each article's reference has what its
    text gives (author, outlet, date, title) and the quote's locator; what it does not give
    stays out ("n.d." for no date) rather than being made up. (The rule reader picks the
    sentences: this checks the references, not the reader.)"""
    from rag.references import formatted_references

    monkeypatch.setenv("RAG_READER", "rules")
    for source, question in BY_ARTICLE.items():
        answer = index.ask(question, reader="rules")
        c = next(c for c in answer.citations if c.source == source)
        code, out, _ = _run(capsys, "--index-dir", str(built.index_dir), "ask", "--cite-style", "apa", question)
        assert code == 0
        ref = next(r for r in formatted_references(answer, "apa") if r.n == c.n)
        line = next(x for x in out.splitlines() if x.startswith(f"[{c.n}] "))
        assert line == f"[{c.n}] {ref.entry} {ref.in_text}"
        assert f"characters {c.start}–{c.end}" in line  # the locator, as there are no pages
        assert c.title.split(":")[0][:30].lower() in line.lower()
        assert (c.date[:4] if c.date else "(n.d.)") in line
        if c.author:
            assert c.author.split()[-1] in line
        if c.site:
            assert c.site in line
        assert f"“{c.quote}”" in out
    # what the articles' texts give: bylines and outlets where they are printed, none elsewhere
    fields = {
        s: (d.author, d.site, d.date) for s, d in ((d.source, d) for d in index.documents())
    }
    assert fields == {
        "000_f10ab0ace30fccea.txt": ("Myind Staff", "Myind", "2025-03-13"),
        "001_2d1fce554b13bff5.txt": ("Paul Dragu", "The New American", "2025-03-13"),
        "002_b8e9ef5253d98c4a.txt": (None, None, "2024-06-15"),
        "003_40ee7686d6f7b35d.txt": (None, None, None),
        "004_0401356ff1198cfb.txt": (None, None, None),
    }


def test_export_writes_files_reference_managers_import(built, capsys, tmp_path, monkeypatch):
    import bibtexparser
    import rispy

    monkeypatch.setenv("RAG_READER", "rules")
    d = str(built.index_dir)
    q = "What did Rubio say about a military solution?"
    bib, ris, csl = tmp_path / "r.bib", tmp_path / "r.ris", tmp_path / "r.json"
    assert _run(capsys, "--index-dir", d, "ask", "--export", "bibtex", str(bib), q)[0] == 0
    assert _run(capsys, "--index-dir", d, "ask", "--export", "ris", str(ris), q)[0] == 0
    assert _run(capsys, "--index-dir", d, "ask", "--export", "csl-json", str(csl), q)[0] == 0
    entry = bibtexparser.parse_string(bib.read_text(encoding="utf-8")).entries[0]
    assert entry["author"] == "Dragu, Paul" and entry["journal"] == "The New American"
    record = rispy.loads(ris.read_text(encoding="utf-8"))[0]
    assert record["authors"] == ["Dragu, Paul"] and record["secondary_title"] == "The New American"
    item = json.loads(csl.read_text(encoding="utf-8"))[0]
    assert item["author"] == [{"family": "Dragu", "given": "Paul"}] and "characters" in item["note"]
    code, _, err = _run(capsys, "--index-dir", d, "ask", "--cite-style", "nonesuch", q)
    assert code == 2 and "unknown citation style" in err


def test_sources_that_differ_are_said_so_in_every_shape(built, capsys, monkeypatch):
    monkeypatch.setenv("RAG_READER", "rules")  # the grouping is checked, not the reader
    d = str(built.index_dir)
    q = "Who is NATO's Secretary-General?"
    code, out, _ = _run(capsys, "--index-dir", d, "ask", "--json", q)
    data = json.loads(out)
    dis = data["disagreement"]
    assert code == 0 and dis["kind"] == "person" and dis["notice"].startswith("The sources differ: ")
    dates = [g["date"] for g in dis["groups"]]
    assert dates == sorted((x for x in dates if x), reverse=True) + [None] * dates.count(None)
    assert {v for g in dis["groups"] for v in g["values"]} == {"Jens Stoltenberg", "Mark Rutte"}
    code, out, _ = _run(capsys, "--index-dir", d, "ask", q)
    assert out.startswith("The sources differ: ") and "\nFrom " in out
    code, out, _ = _run(capsys, "--index-dir", d, "ask", "--markdown", q)
    assert "**The sources differ: " in out and "*From " in out
    code, out, _ = _run(capsys, "--index-dir", d, "ask", "--json", "Who is the Russian president?")
    assert json.loads(out)["disagreement"] is None
