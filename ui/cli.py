"""The ``rag`` command line: the only module that imports click.

    rag index                       # index the bundled corpus (or RAG_CORPUS_DIR)
    rag index ~/papers              # index another folder
    rag ask "Who rejected the 30-day ceasefire?"
    rag ask --json "..."            # the JSON shape in the README
    rag ask --markdown "..."        # a block to paste into a report
    rag ask --questions qs.jsonl    # one JSON object per line, each with its id
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

from rag.errors import RagError
from rag.settings import Settings

EXIT_USER_ERROR = 2


def _settings(ctx: click.Context) -> Settings:
    return ctx.obj["settings"]  # type: ignore[no-any-return]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--index-dir", type=click.Path(path_type=Path), default=None, help="Index folder [RAG_INDEX_DIR; .rag/index].")
@click.option("--corpus", type=click.Path(path_type=Path), default=None, help="Corpus folder [RAG_CORPUS_DIR; bundled corpus].")
@click.option("--top-k", type=int, default=None, help="Passages retrieved per question [RAG_TOP_K; 5].")
@click.option("--chroma-url", default=None, help="Use a Chroma server, e.g. http://127.0.0.1:8000 [RAG_CHROMA_URL].")
@click.pass_context
def cli(ctx: click.Context, index_dir: Path | None, corpus: Path | None, top_k: int | None, chroma_url: str | None) -> None:
    """Ask questions of your documents; every answer is quoted from them, with citations."""
    ctx.ensure_object(dict)
    ctx.obj["settings"] = Settings.from_env(
        index_dir=index_dir, corpus_dir=corpus, top_k=top_k, chroma_url=chroma_url
    )


@cli.command("index")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--keep-missing", is_flag=True, help="Do not remove documents that are no longer in PATHS.")
@click.pass_context
def index_cmd(ctx: click.Context, paths: tuple[Path, ...], keep_missing: bool) -> None:
    """Index PATHS (default: the corpus folder). Only new or changed files are embedded.

    \b
    Example:
        rag index                  # the bundled corpus
        rag --index-dir /tmp/i index ~/papers
    """
    from tqdm import tqdm

    from index.build import build_index

    settings = _settings(ctx)
    bar: Any = None

    def progress(i: int, n: int, name: str) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=n, unit="doc", desc="indexing", file=sys.stderr, disable=n < 2)
        bar.n = i
        bar.set_postfix_str(name[-40:], refresh=True)

    report = build_index(settings, list(paths) or None, progress=progress, prune=not keep_missing)
    if bar is not None:
        bar.close()
    for s in report.skipped:
        click.echo(f"skipped {s.source}: {s.reason}", err=True)
    click.echo(report.summary())


def _read_questions(path: Path) -> list[tuple[str, str]]:
    from rag.errors import InputError

    try:
        raw = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read the questions file {path}: {e}") from None
    out: list[tuple[str, str]] = []
    for n, line in enumerate(raw.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        if line.startswith("{"):
            try:
                obj = json.loads(line)
                out.append((str(obj.get("id", n)), str(obj["question"])))
            except (ValueError, KeyError, AttributeError):
                raise InputError(f"{path}, line {n}: not a JSON object with a \"question\" key") from None
        else:
            out.append((str(n), line))
    return out


@cli.command("ask")
@click.argument("question", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")
@click.option("--markdown", is_flag=True, help="Print a Markdown block ready for a report.")
@click.option("--questions", type=click.Path(path_type=Path), help="Answer every question in a file (JSON lines with id and question, or one per line).")
@click.pass_context
def ask_cmd(ctx: click.Context, question: str | None, as_json: bool, markdown: bool, questions: Path | None) -> None:
    """Answer QUESTION with sentences quoted from the documents.

    \b
    Example:
        rag ask "What did Putin demand?"
        rag ask --json "What did Putin demand?"
        rag ask --questions eval/qa.jsonl > answers.jsonl
    """
    from index.service import clean_question, open_index
    from ui.render import to_markdown, to_text

    settings = _settings(ctx)
    if questions is None:
        if question is None:
            raise click.UsageError('give a QUESTION, e.g. rag ask "Who rejected the ceasefire?"')
        clean_question(question, settings.max_question_chars)  # before loading anything heavy
    idx = open_index(settings)
    if questions is not None:
        for qid, q in _read_questions(questions):
            try:
                rec: dict[str, Any] = {"id": qid, **idx.ask(q).to_dict()}
            except RagError as e:
                rec = {"id": qid, "question": q, "error": str(e)}
            click.echo(json.dumps(rec, ensure_ascii=False))
        return
    assert question is not None
    answer = idx.ask(question)
    if as_json:
        click.echo(json.dumps(answer.to_dict(), ensure_ascii=False, indent=1))
    elif markdown:
        click.echo(to_markdown(answer), nl=False)
    else:
        click.echo(to_text(answer), nl=False)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; a ``RagError`` becomes one line on stderr and exit code 2, never a traceback."""
    try:
        cli.main(args=argv, prog_name="rag", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as e:
        e.show()
        return e.exit_code
    except RagError as e:
        click.echo(f"error: {e}", err=True)
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())
