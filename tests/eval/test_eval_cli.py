"""`rag eval` driven the way a user runs it: a SQuAD file, the bundled set, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.run import METHODS
from tests.conftest import MINI_SQUAD
from ui.cli import main


@pytest.mark.slow
def test_eval_squad_writes_json_and_html(tmp_path: Path, embedder, capsys) -> None:
    out_json, out_html = tmp_path / "out" / "run.json", tmp_path / "out" / "run.html"
    code = main(
        [
            "--index-dir",
            str(tmp_path / "unused-index"),
            "eval",
            "--squad",
            str(MINI_SQUAD),
            "--unanswerable-share",
            "0.34",
            "--seeds",
            "1",
            "--json",
            str(out_json),
            "--report",
            str(out_html),
            "--report",
            str(tmp_path / "out" / "run.md"),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert (tmp_path / "out" / "run.md").is_file() and (tmp_path / "out" / "run.recall.png").is_file()
    for method in ("hybrid", "dense", "lexical", "top-passage"):
        assert method in captured.out
    assert "Recall@1" in captured.out and "Answer hit" in captured.out
    assert "Right sentence ranked 1st" in captured.out
    assert not (tmp_path / "unused-index").exists()  # SQuAD runs use their own temp index

    data = json.loads(out_json.read_text(encoding="utf-8"))
    assert data["command"].startswith("rag eval --squad")
    qs = data["questions"]
    assert len(qs) == 5
    unanswerable = [q for q in qs if not q["expected"]["answers"]]
    # seed 1 leaves out the Varrow River article: its three questions, written with answers, now have none
    assert {q["id"] for q in unanswerable} == {"q0", "q1", "qx"}
    assert all(q["expected"]["withheld_answers"] for q in unanswerable)
    for q in qs:
        assert set(q["methods"]) == set(METHODS)
        top = q["methods"]["top-passage"]
        assert not top["abstained"] and len(top["citations"]) == 1
        for o in q["methods"].values():
            assert {"grounded", "abstention_ok"} <= set(o["checks"])
            assert all(c["grounded"] for c in o["citations"])  # one-line files: nothing dropped
    answered = [
        q["methods"]["hybrid"]
        for q in qs
        if q["expected"]["answers"] and not q["methods"]["hybrid"]["abstained"]
    ]
    assert answered and all("right_sentence_rank" in o["checks"] for o in answered)
    assert data["summary"]["hybrid"]["right_sentence_first"] is not None
    summary = data["summary"]["top-passage"]
    assert summary["right_sentence_first"] is None  # the baseline ranks no sentences
    assert summary["abstention_recall"] == 0.0  # the baseline never abstains
    assert summary["grounding"] == 1.0

    page = out_html.read_text(encoding="utf-8")
    assert "data:image/png;base64," in page and "<table>" in page
    assert "<script>alert" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


@pytest.mark.slow
def test_eval_bundled_set_markdown_report(built, embedder, tmp_path: Path, capsys) -> None:
    report = tmp_path / "r.md"
    code = main(
        [
            "--index-dir",
            str(built.index_dir),
            "--corpus",
            str(built.corpus_dir),
            "eval",
            "--limit",
            "4",
            "--methods",
            "hybrid,top-passage",
            "--report",
            str(report),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0, captured.err
    text = report.read_text(encoding="utf-8")
    assert "| metric | hybrid | top-passage |" in text
    assert "rag eval --methods hybrid,top-passage --limit 4" in text
    assert (tmp_path / "r.recall.png").read_bytes().startswith(b"\x89PNG")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["eval", "--qa", "a.jsonl", "--squad", "b.json"], "give --qa or --squad, not both"),
        (["eval", "--report", "out.pdf"], "must end in .html or .md"),
        (["eval", "--methods", "hybrid,magic"], "choose from hybrid, learned, dense, lexical, top-passage"),
        (["eval", "--limit", "0"], "--limit must be at least 1"),
        (["eval", "--squad", "x.json", "--unanswerable-share", "1.5"], "below 1"),
        (["eval", "--squad", "no-such.json"], "no such SQuAD file"),
    ],
)
def test_eval_bad_input_is_one_line(args: list[str], message: str, tmp_path: Path, capsys) -> None:
    code = main(["--index-dir", str(tmp_path / "i"), *args])
    err = capsys.readouterr().err
    assert code == 2
    assert message in err and "Traceback" not in err


def test_eval_bad_qa_file_names_the_line(tmp_path: Path, built, capsys) -> None:
    qa = tmp_path / "qa.jsonl"
    qa.write_text('{"id": "a", "question": "Who?", "answers": ["X"], "sources": ["s"]}\n{oops\n')
    code = main(["--index-dir", str(built.index_dir), "eval", "--qa", str(qa)])
    err = capsys.readouterr().err
    assert code == 2 and "qa.jsonl, line 2: not valid JSON" in err
