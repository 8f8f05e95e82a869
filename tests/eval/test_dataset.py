"""Loading question sets: the project's JSONL format and SQuAD files written out as a corpus."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from eval.dataset import DEFAULT_QA, load_qa, load_squad, slug
from rag.errors import InputError
from tests.conftest import MINI_SQUAD, XQUAD_EN

GOOD = {"id": "q1", "question": "Who?", "answers": ["Ann"], "sources": ["a.txt"], "type": "fact"}


def _write(tmp_path: Path, lines: list[str]) -> Path:
    p = tmp_path / "qa.jsonl"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


def test_bundled_set_loads() -> None:
    items = load_qa(DEFAULT_QA)
    assert len(items) >= 80
    assert len({i.id for i in items}) == len(items)
    assert sum(not i.answerable for i in items) >= 15
    assert all(i.sources for i in items if i.answerable)


def test_load_qa_reads_the_format(tmp_path: Path) -> None:
    unans = {"id": 2, "question": "When?", "answers": [], "sources": [], "extra": 1}
    items = load_qa(_write(tmp_path, [json.dumps(GOOD), json.dumps(unans)]))
    assert items[0].answers == ("Ann",) and items[0].sources == ("a.txt",)
    assert items[0].type == "fact" and items[0].answerable
    assert items[1].id == "2" and not items[1].answerable


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"id": "q1", "question": ', "line 2: not valid JSON"),
        ('["q1"]', "line 2: each line must be a JSON object"),
        ('{"id": "q9", "question": "Who?"}', "missing key(s) 'answers', 'sources'"),
        ('{"id": "q9", "question": "", "answers": [], "sources": []}', '"question" must be'),
        ('{"id": "q9", "question": "Who?", "answers": "Ann", "sources": []}', '"answers" must be'),
        ('{"id": "q9", "question": "Who?", "answers": ["A"], "sources": "a"}', '"sources" must be'),
        ('{"id": "q9", "question": "Who?", "answers": [], "sources": ["a.txt"]}', "unanswerable"),
        (json.dumps(GOOD), "id 'q1' is already used on line 1"),
        ("", "line 2: blank line"),
    ],
)
def test_load_qa_names_the_bad_line(tmp_path: Path, line: str, message: str) -> None:
    path = _write(tmp_path, [json.dumps(GOOD), line, json.dumps({**GOOD, "id": "q3"})])
    with pytest.raises(InputError, match="line 2") as err:
        load_qa(path)
    assert message in str(err.value)


def test_load_qa_missing_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such question file"):
        load_qa(tmp_path / "nope.jsonl")
    (tmp_path / "empty.jsonl").write_text("\n", encoding="utf-8")
    with pytest.raises(InputError, match="no questions"):
        load_qa(tmp_path / "empty.jsonl")


def _squad(tmp_path: Path, n_articles: int = 5) -> Path:
    data = {"version": "1.1", "data": []}
    for a in range(n_articles):
        paras = []
        for p in range(2):
            ctx = f"Article {a} paragraph {p}: the river Foo{a}{p} is {a * 10 + p} km long."
            ans = f"{a * 10 + p} km"
            paras.append(
                {
                    "context": ctx,
                    "qas": [
                        {
                            "id": f"{a}-{p}",
                            "question": f"How long is the river Foo{a}{p}?",
                            "answers": [
                                {"text": ans, "answer_start": ctx.index(ans)},
                                {"text": ans, "answer_start": ctx.index(ans)},
                            ],
                        }
                    ],
                }
            )
        data["data"].append({"title": f"River_(Part {a})", "paragraphs": paras})  # type: ignore[attr-defined]
    path = tmp_path / "tiny-squad.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def test_load_squad_writes_a_corpus_and_leaves_out_articles(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    s = load_squad(_squad(tmp_path), corpus, unanswerable_share=0.4, seed=3)
    assert s.articles == 5 and len(s.left_out) == 2
    assert s.documents == 6  # 3 kept articles x 2 paragraphs
    files = sorted(p.name for p in corpus.glob("*.txt"))
    assert len(files) == 6
    left = [i for i in s.items if not i.answerable]
    kept = [i for i in s.items if i.answerable]
    assert len(left) == 4 and len(kept) == 6
    for it in kept:
        (src,) = it.sources
        text = (corpus / src).read_text(encoding="utf-8")
        assert it.answers[0] in text  # the gold source holds the gold answer, verbatim
        assert it.answers == (it.answers[0],)  # repeated annotator answers collapse
        meta = json.loads((corpus / f"{src}.meta.json").read_text(encoding="utf-8"))
        assert meta["title"].startswith("River (Part")
    for it in left:
        assert it.sources == () and it.withheld and it.type == "left-out"
        assert not any(it.withheld[0] in (corpus / f).read_text() for f in files)
    # the same seed leaves out the same articles; another seed may not
    again = load_squad(_squad(tmp_path), tmp_path / "corpus2", unanswerable_share=0.4, seed=3)
    assert again.left_out == s.left_out


def test_load_squad_share_zero_keeps_everything(tmp_path: Path) -> None:
    s = load_squad(_squad(tmp_path, 2), tmp_path / "c", unanswerable_share=0.0)
    assert s.left_out == () and all(i.answerable for i in s.items)


def test_load_squad_bad_input(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="below 1"):
        load_squad(_squad(tmp_path), tmp_path / "c", unanswerable_share=1.0)
    bad = tmp_path / "bad.json"
    bad.write_text('{"data": [{"title": "X", "paragraphs": [{"qas": []}]}]}', encoding="utf-8")
    with pytest.raises(InputError, match=r"data\[0\]\.paragraphs\[0\].*context"):
        load_squad(bad, tmp_path / "c")
    bad.write_text("{not json", encoding="utf-8")
    with pytest.raises(InputError, match="not valid JSON"):
        load_squad(bad, tmp_path / "c")
    with pytest.raises(InputError, match="no such SQuAD file"):
        load_squad(tmp_path / "missing.json", tmp_path / "c")


def test_the_mini_squad_file_loads(tmp_path: Path) -> None:
    s = load_squad(MINI_SQUAD, tmp_path / "c", unanswerable_share=0.0)
    assert s.articles == 3 and s.documents == 4 and len(s.items) == 5
    for it in s.items:
        (src,) = it.sources
        assert it.answers[0] in (tmp_path / "c" / src).read_text(encoding="utf-8")


@pytest.mark.skipif(
    not XQUAD_EN.is_file(),
    reason=f"XQuAD is not in the repository; put xquad.en.json (github.com/google-deepmind/xquad) "
    f"at {XQUAD_EN} to run this test",
)
def test_xquad_shape(tmp_path: Path) -> None:
    s = load_squad(XQUAD_EN, tmp_path / "c", unanswerable_share=0.2, seed=0)
    assert s.articles == 48 and len(s.left_out) == 10
    assert len(s.items) == 1190


def test_slug() -> None:
    assert slug("Sky_(United_Kingdom)") == "sky-united-kingdom"
    assert slug("???") == "article"


def test_the_sources_differ_flag_is_read_and_checked(tmp_path: Path) -> None:
    items = load_qa(_write(tmp_path, [
        json.dumps({**GOOD, "disagreement": True}),
        json.dumps({**GOOD, "id": "q2", "disagreement": False}),
        json.dumps({**GOOD, "id": "q3"}),
    ]))
    assert [i.disagreement for i in items] == [True, False, None]
    with pytest.raises(InputError, match=r'line 1: "disagreement" must be true .* not \'yes\''):
        load_qa(_write(tmp_path, [json.dumps({**GOOD, "disagreement": "yes"})]))


def test_bundled_set_has_questions_judged_for_the_flag() -> None:
    judged = [i for i in load_qa(DEFAULT_QA) if i.disagreement is not None]
    assert len(judged) >= 10
    assert any(i.disagreement for i in judged) and not all(i.disagreement for i in judged)
