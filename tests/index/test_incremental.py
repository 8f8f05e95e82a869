"""Incremental indexing: add, change, delete and rename documents between runs of the real
pipeline (real model, real Chroma in a temp folder) and check the report, the records and
the answers after each run."""

from __future__ import annotations

import json
import shutil

import pytest

from index.build import build_index, open_store
from index.service import open_index
from rag.load import iter_files
from rag.settings import Settings
from tests.conftest import CORPUS, QA_FILE
from tests.index.records import check_records, expected_records

OBSERVATORY = """Lindqvist Observatory reports its busiest aurora season

The Lindqvist Observatory in Tromsø counted {nights} nights with visible aurora during the 2024 season, the highest total since its records began in 1958.
Director Maren Solberg said the rise followed the peak of the eleven-year solar cycle.
The observatory plans to open a second camera station on the island of Senja next spring.
"""
QUESTION = "How many nights with visible aurora did the Lindqvist Observatory count in 2024?"


def questions_about(source: str) -> list[str]:
    qa = [json.loads(x) for x in QA_FILE.read_text(encoding="utf-8").splitlines() if x.strip()]
    return [q["question"] for q in qa if q["sources"] == [source] and q["answers"]]


def cited(answer) -> set[str]:  # type: ignore[no-untyped-def]
    return {c.source for c in answer.citations}


@pytest.fixture(scope="module")
def work(tmp_path_factory, embedder):
    root = tmp_path_factory.mktemp("incremental")
    corpus = root / "corpus"
    shutil.copytree(CORPUS, corpus)
    settings = Settings.from_env({}, index_dir=root / "index", corpus_dir=corpus)
    report = build_index(settings, embedder=embedder)
    assert sorted(report.added) == sorted(rel for _, rel in iter_files(corpus))
    return corpus, settings


def test_unchanged_rerun_embeds_nothing(work, embedder):
    corpus, settings = work
    before = check_records(settings, corpus)
    lexical = sorted(p.name for p in (settings.index_dir / "lexical").iterdir())
    report = build_index(settings, embedder=embedder)
    assert (report.added, report.updated, report.removed) == ([], [], [])
    assert len(report.unchanged) == len(list(iter_files(corpus)))
    assert report.chunks == report.sentences == 0
    assert check_records(settings, corpus) == before
    assert sorted(p.name for p in (settings.index_dir / "lexical").iterdir()) == lexical


def test_add_change_delete_rename(work, embedder):
    corpus, settings = work
    n_files = len(list(iter_files(corpus)))
    idx = open_index(settings, embedder=embedder)

    # add: a new document in a subfolder; its fact is answered and cited
    (corpus / "extra").mkdir()
    (corpus / "extra" / "observatory.txt").write_text(
        OBSERVATORY.format(nights=214), encoding="utf-8"
    )
    before = open_store(settings).counts()
    report = build_index(settings, embedder=embedder)
    assert report.added == ["extra/observatory.txt"]
    assert (report.updated, report.removed) == ([], [])
    assert len(report.unchanged) == n_files
    after = check_records(settings, corpus)
    assert after["docs"] == before["docs"] + 1 and after["chunks"] > before["chunks"]
    idx.refresh(force=True)
    a = idx.ask(QUESTION)
    assert not a.abstained, a.answer
    assert "214" in a.answer and cited(a) == {"extra/observatory.txt"}

    # change: the same file with another figure; the old figure is never quoted again
    (corpus / "extra" / "observatory.txt").write_text(
        OBSERVATORY.format(nights=187), encoding="utf-8"
    )
    report = build_index(settings, embedder=embedder)
    assert report.updated == ["extra/observatory.txt"]
    assert (report.added, report.removed) == ([], [])
    assert check_records(settings, corpus) == after  # same shape, new records
    idx.refresh(force=True)
    a = idx.ask(QUESTION)
    assert "187" in a.answer and "214" not in a.answer
    assert all("214" not in c.quote and "214" not in c.passage for c in a.citations)

    # delete: a bundled article; nothing it said is cited any more, not even as a closest passage
    victim = sorted(rel for _, rel in iter_files(corpus) if "/" not in rel)[-1]
    asked = questions_about(victim)
    assert asked, f"the Q&A set has no question about {victim}"
    was_cited = sum(victim in cited(idx.ask(q)) for q in asked)
    assert was_cited > 0
    (corpus / victim).unlink()
    report = build_index(settings, embedder=embedder)
    assert report.removed == [victim] and (report.added, report.updated) == ([], [])
    gone = check_records(settings, corpus)
    assert gone["docs"] == after["docs"] - 1 and gone["chunks"] < after["chunks"]
    idx.refresh(force=True)
    for q in asked:
        assert victim not in cited(idx.ask(q)), q
    assert victim not in {d.source for d in idx.documents()}

    # rename: removed under the old name, added under the new; same number of records
    old = sorted(rel for _, rel in iter_files(corpus) if "/" not in rel)[0]
    new = "moved/" + old.replace(".txt", "-renamed.txt")
    asked = questions_about(old)
    (corpus / "moved").mkdir()
    (corpus / old).rename(corpus / new)
    report = build_index(settings, embedder=embedder)
    assert report.removed == [old] and report.added == [new] and report.updated == []
    assert check_records(settings, corpus) == gone
    idx.refresh(force=True)
    answers = [idx.ask(q) for q in asked]
    assert all(old not in cited(a) for a in answers)
    assert sum(new in cited(a) for a in answers if not a.abstained) > 0


def test_changed_chunking_reembeds_everything(work, embedder):
    corpus, settings = work
    smaller = settings.with_(chunk_tokens=120, chunk_overlap=20)
    report = build_index(smaller, embedder=embedder)
    assert sorted(report.updated) == sorted(rel for _, rel in iter_files(corpus))
    assert report.added == report.removed == []
    counts = check_records(smaller, corpus)
    # the old 200-token chunks are gone, not kept beside the new ones (a short passage that
    # both settings cut the same way keeps its id)
    big, _, _ = expected_records(settings, corpus)
    small, _, _ = expected_records(smaller, corpus)
    assert big - small and not (big - small) & set(open_store(smaller).ids("chunks"))
    assert counts["chunks"] > len(big)
