"""Question sets for the eval: the project's JSONL format, and SQuAD v1.1 files made a corpus.

>>> items = load_qa(DEFAULT_QA)                                        # doctest: +SKIP
>>> squad = load_squad(Path("xquad.en.json"), Path("/tmp/c"))         # doctest: +SKIP
>>> len(squad.items), len(squad.left_out)                              # doctest: +SKIP
(1190, 10)
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rag.errors import InputError

DEFAULT_QA = Path(__file__).resolve().parent / "qa.jsonl"
DEFAULT_UNANSWERABLE_SHARE = 0.2
DEFAULT_SEED = 0
DEFAULT_SEEDS = (0, 1, 2, 3, 4)  # `rag eval --squad` reports the mean and spread over these


@dataclass(frozen=True)
class QAItem:
    """One question with what counts as right: accepted answers and the files that hold them.

    ``answers == ()`` means the documents do not answer it; ``withheld`` keeps the answers a
    SQuAD question had before its article was left out of the corpus (shown in reports only).
    ``disagreement`` says whether the documents give different values of what the question
    asks for (True), the same (False), or was not judged (None): the answer's "sources
    differ" flag is scored against it.
    """

    id: str
    question: str
    answers: tuple[str, ...]
    sources: tuple[str, ...]
    type: str | None = None
    withheld: tuple[str, ...] = ()
    disagreement: bool | None = None

    @property
    def answerable(self) -> bool:
        return bool(self.answers)


@dataclass(frozen=True)
class SquadSet:
    """A SQuAD file written out as a corpus: the questions, and which articles were left out."""

    items: list[QAItem]
    corpus_dir: Path
    documents: int
    articles: int
    left_out: tuple[str, ...]


def _str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) and v.strip() for v in value)


def parse_qa_line(line: str, where: str) -> QAItem:
    """One line of the project format; ``where`` ("qa.jsonl, line 3") starts every error."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as e:
        raise InputError(f"{where}: not valid JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(obj, dict):
        raise InputError(f"{where}: each line must be a JSON object, not {type(obj).__name__}")
    missing = [k for k in ("id", "question", "answers", "sources") if k not in obj]
    if missing:
        raise InputError(
            f"{where}: missing key(s) {', '.join(repr(k) for k in missing)}; each line needs "
            '"id", "question", "answers" and "sources" (see eval/README.md)'
        )
    qid, question, answers, sources = obj["id"], obj["question"], obj["answers"], obj["sources"]
    if not isinstance(qid, str | int) or isinstance(qid, bool) or not str(qid).strip():
        raise InputError(f'{where}: "id" must be a non-empty string, not {qid!r}')
    if not isinstance(question, str) or not question.strip():
        raise InputError(f'{where}: "question" must be a non-empty string, not {question!r}')
    if not _str_list(answers):
        raise InputError(
            f'{where}: "answers" must be a list of non-empty strings ([] when the documents '
            f"do not answer), not {answers!r}"
        )
    if not _str_list(sources):
        raise InputError(
            f'{where}: "sources" must be a list of file names (strings), not {sources!r}'
        )
    if not answers and sources:
        raise InputError(
            f'{where}: "answers" is [] (unanswerable) but "sources" lists {sources!r}; '
            "an unanswerable question has no sources"
        )
    kind = obj.get("type")
    differ = obj.get("disagreement")
    if differ is not None and not isinstance(differ, bool):
        raise InputError(
            f'{where}: "disagreement" must be true (the documents give different answers), '
            f"false (they agree) or left out, not {differ!r}"
        )
    return QAItem(
        id=str(qid),
        question=question,
        answers=tuple(answers),
        sources=tuple(s.strip() for s in sources),
        type=str(kind) if kind is not None else None,
        disagreement=differ,
    )


def load_qa(path: Path) -> list[QAItem]:
    """Every question in a JSONL file in the project format (eval/README.md).

    Raises ``InputError`` naming the file, the line and what is wrong with it.
    """
    try:
        raw = Path(path).read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise InputError(f"no such question file: {path}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read the question file {path}: {e}") from None
    items: list[QAItem] = []
    seen: dict[str, int] = {}
    lines = raw.split("\n")
    while lines and not lines[-1].strip():
        lines.pop()  # the file's final newline(s)
    for n, line in enumerate(lines, start=1):
        where = f"{Path(path).name}, line {n}"
        if not line.strip():
            raise InputError(
                f"{where}: blank line; the format has one JSON object per line, remove it"
            )
        item = parse_qa_line(line, where)
        if item.id in seen:
            raise InputError(
                f"{where}: id {item.id!r} is already used on line {seen[item.id]}; "
                "ids must be unique"
            )
        seen[item.id] = n
        items.append(item)
    if not items:
        raise InputError(f"{path} holds no questions (expected one JSON object per line)")
    return items


def slug(text: str) -> str:
    """A file-name-safe form of a title: ``"Sky_(United_Kingdom)"`` -> ``"sky-united-kingdom"``."""
    s = re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")
    return s[:60].strip("-") or "article"


def _squad_error(path: Path, where: str, what: str) -> InputError:
    return InputError(f"{path.name}: {where}: {what} (expected SQuAD v1.1 JSON)")


def load_squad(
    path: Path,
    corpus_dir: Path,
    unanswerable_share: float = DEFAULT_UNANSWERABLE_SHARE,
    seed: int = DEFAULT_SEED,
) -> SquadSet:
    """Write a SQuAD v1.1 file's paragraphs into ``corpus_dir`` as documents and return its
    questions, with gold answers and the paragraph file as gold source.

    One ``.txt`` per paragraph, named by article slug and paragraph number, its text the
    paragraph verbatim; a ``.meta.json`` sidecar gives the article's title. The paragraphs of
    ``unanswerable_share`` of the articles (drawn with ``seed``) are not written, so the
    questions people wrote about them become unanswerable.
    """
    path = Path(path)
    if not 0.0 <= unanswerable_share < 1.0:
        raise InputError(
            "--unanswerable-share must be at least 0 and below 1. "
            f"Currently, it is {unanswerable_share}."
        )
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except FileNotFoundError:
        raise InputError(
            f"no such SQuAD file: {path}. XQuAD's English set, for one, is `xquad.en.json` at "
            "https://github.com/google-deepmind/xquad (CC BY-SA 4.0)"
        ) from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f"cannot read the SQuAD file {path}: {e}") from None
    except ValueError as e:
        raise InputError(f"{path.name}: not valid JSON ({e})") from None
    articles = data.get("data") if isinstance(data, dict) else None
    if not isinstance(articles, list) or not articles:
        raise _squad_error(path, "top level", 'no "data" list of articles')

    titles: list[str] = []
    for a, art in enumerate(articles):
        if not isinstance(art, dict) or not isinstance(art.get("paragraphs"), list):
            raise _squad_error(path, f"data[{a}]", 'an article needs a "paragraphs" list')
        titles.append(str(art.get("title") or f"article {a + 1}"))
    n_out = round(unanswerable_share * len(articles))
    left_out = set(random.Random(seed).sample(range(len(articles)), n_out))

    corpus_dir.mkdir(parents=True, exist_ok=True)
    items: list[QAItem] = []
    used: set[str] = set()
    written = 0
    for a, art in enumerate(articles):
        title = titles[a].replace("_", " ")
        base = slug(titles[a])
        if base in used:
            base = f"{base}-{a + 1}"
        used.add(base)
        for p, para in enumerate(art["paragraphs"], start=1):
            where = f"data[{a}].paragraphs[{p - 1}]"
            if not isinstance(para, dict) or not isinstance(para.get("context"), str):
                raise _squad_error(path, where, 'a paragraph needs a "context" string')
            name = f"{base}-{p:02d}.txt"
            if a not in left_out:
                (corpus_dir / name).write_text(para["context"], encoding="utf-8")
                (corpus_dir / f"{name}.meta.json").write_text(
                    json.dumps({"title": title}, ensure_ascii=False), encoding="utf-8"
                )
                written += 1
            for k, qa in enumerate(para.get("qas") or []):
                qwhere = f"{where}.qas[{k}]"
                if not isinstance(qa, dict) or not isinstance(qa.get("question"), str):
                    raise _squad_error(path, qwhere, 'a question needs a "question" string')
                golds = [
                    str(ans.get("text"))
                    for ans in qa.get("answers") or []
                    if isinstance(ans, dict) and str(ans.get("text") or "").strip()
                ]
                golds = list(dict.fromkeys(golds))  # annotators often repeat the same span
                qid = str(qa.get("id") or f"{base}-{p:02d}-{k + 1}")
                if not golds:
                    continue  # SQuAD 2.0's own unanswerable questions are out of scope here
                if a in left_out:
                    items.append(QAItem(qid, qa["question"], (), (), "left-out", tuple(golds)))
                else:
                    items.append(QAItem(qid, qa["question"], tuple(golds), (name,), "squad"))
    if not items:
        raise _squad_error(path, "top level", "no questions with answers")
    return SquadSet(
        items=items,
        corpus_dir=corpus_dir,
        documents=written,
        articles=len(articles),
        left_out=tuple(titles[a] for a in sorted(left_out)),
    )
