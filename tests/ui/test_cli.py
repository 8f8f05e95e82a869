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


def test_questions_file_gives_one_json_per_line(built, capsys, tmp_path):
    f = tmp_path / "qs.jsonl"
    f.write_text(
        '{"id": "a", "question": "What did Rubio say about a military solution?"}\n'
        '{"id": "b", "question": ""}\n',
        encoding="utf-8",
    )
    code, out, _ = _run(capsys, "--index-dir", str(built.index_dir), "ask", "--questions", str(f))
    lines = [json.loads(x) for x in out.splitlines()]
    assert code == 0 and [x["id"] for x in lines] == ["a", "b"]
    assert "answer" in lines[0] and "error" in lines[1]
    plain = tmp_path / "qs.txt"
    plain.write_text("Who is Jens Stoltenberg?\nWhat is NATO?\n", encoding="utf-8")
    code, out, _ = _run(
        capsys, "--index-dir", str(built.index_dir), "ask", "--questions", str(plain)
    )
    assert [json.loads(x)["id"] for x in out.splitlines()] == ["1", "2"]


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
