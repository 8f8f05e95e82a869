"""The whole path on the bundled corpus: real model, real Chroma in a temp folder."""

from __future__ import annotations

import json
import re
import shutil

import numpy as np
import pytest

from rag.errors import IndexMissingError, InputError
from rag.load import read_original
from tests.conftest import QA_FILE


def _words(s: str) -> list[str]:
    return re.findall(r"\w+", s.lower())


def _check_grounded(settings, answer) -> None:
    for c in answer.citations:
        original, _ = read_original(settings.corpus_dir / c.source, c.source)
        cited = original[c.start : c.end]
        # the same words in the same order, once removed markup is ignored
        assert _words(c.quote) == [w for w in _words(cited) if w in set(_words(c.quote))], (
            c,
            cited,
        )
        assert cited.startswith(c.quote[:1]) and cited.endswith(c.quote[-1:])


def test_every_citation_points_at_its_quote(index, built):
    qa = [
        json.loads(line)
        for line in QA_FILE.read_text(encoding="utf-8").splitlines()
        if line.strip()
    ]
    n = 0
    for q in qa[:60]:
        a = index.ask(q["question"])
        _check_grounded(built, a)
        n += len(a.citations)
    assert n > 40


def test_answer_is_made_only_of_source_sentences(index):
    a = index.ask("What share of the Kursk territory did Russia say it had recaptured?")
    assert not a.abstained
    rebuilt = " ".join(f"{c.quote} [{c.n}]" for c in a.citations)
    assert a.answer == rebuilt
    assert "86%" in a.answer


@pytest.mark.parametrize(
    "question",
    [
        "What did Emmanuel Macron propose about peacekeepers?",
        "What is the chemical formula of table salt?",
        "Who won the 1998 Tour de France?",
    ],
)
def test_abstains_when_documents_do_not_answer(index, question):
    a = index.ask(question)
    assert a.abstained
    assert a.citations, "closest passages are still listed"


def test_json_shape(index):
    d = index.ask("Who dismissed Putin's conditions as unacceptable?").to_dict()
    assert set(d) == {
        "question", "answer", "abstained", "confidence", "abstain_reason", "citations",
        "disagreement",
    }
    c = d["citations"][0]
    assert set(c) == {
        "n", "source", "title", "date", "start", "end", "quote", "passage", "score", "role",
        "probability", "author", "site", "url", "page", "page_end", "section",
    }
    assert re.fullmatch(r"\d{4}-\d{2}-\d{2}", c["date"] or "2000-01-01")
    assert c["quote"] in c["passage"] or c["passage"]


def test_indexing_twice_changes_nothing(built, embedder):
    from index.build import build_index, open_store

    store = open_store(built)
    before = (store.count(), len(store.documents()))
    report = build_index(built, embedder=embedder)
    assert report.added == [] and report.updated == [] and len(report.unchanged) == 5
    assert (store.count(), len(store.documents())) == before


@pytest.mark.parametrize("question", ["", "   \n\t ", "x" * 100_000, "?!?...", "\x00\x01\x02"])
def test_bad_questions_get_clear_errors(index, question):
    with pytest.raises(InputError) as e:
        index.ask(question)
    assert str(e.value) and "Traceback" not in str(e.value)


def test_asking_before_indexing_says_what_to_run(tmp_path, embedder):
    from index import open_index
    from rag.settings import Settings

    with pytest.raises(IndexMissingError, match="rag index"):
        open_index(Settings.from_env({}, index_dir=tmp_path / "none"), embedder=embedder)


def test_unreadable_files_are_skipped_and_named(tmp_path, embedder):
    from index.build import build_index
    from rag.settings import Settings

    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "good.txt").write_text(
        "The committee met on Monday. It approved the budget of 40 million.", encoding="utf-8"
    )
    (corpus / "binary.txt").write_bytes(b"\x00\x01\x02\xff" * 100)
    (corpus / "empty.md").write_text("", encoding="utf-8")
    (corpus / "latin1.txt").write_bytes("Café owners in Zürich met.".encode("latin-1"))
    s = Settings.from_env({}, index_dir=tmp_path / "i", corpus_dir=corpus)
    report = build_index(s, embedder=embedder)
    assert sorted(report.added) == ["good.txt", "latin1.txt"]
    reasons = {k.source: k.reason for k in report.skipped}
    assert "binary" in reasons["binary.txt"] and "no text" in reasons["empty.md"]


def test_sentence_vectors_come_from_the_chunk_pass_and_plain_embedders_still_index(
    tmp_path, built, embedder, corpus_copy
):
    """Late chunking in the real index; an embedder without span vectors (a server copy that
    replays stored vectors, say) still indexes, each sentence embedded alone under its title."""
    from index.build import build_index, open_store
    from rag.embed import sentence_embedding_text

    class WholeTexts:  # the real model, through `embed` only
        dim = embedder.dim

        def embed(self, texts, *, progress=False):
            return embedder.embed(texts)

    plain = built.with_(index_dir=tmp_path / "plain")
    report = build_index(plain, embedder=WholeTexts())
    assert len(report.added) == 5 and not report.skipped

    late, alone = open_store(built), open_store(plain)
    late_s, alone_s = late.all_sentences(), alone.all_sentences()
    assert sorted(late_s) == sorted(alone_s)
    titles = {d.source: d.title for d in late.documents()}
    ids = sorted(late_s)[:40]
    for a, b in zip((late_s[i] for i in ids), (alone_s[i] for i in ids), strict=True):
        expected = embedder.embed([sentence_embedding_text(titles[b.source], b.text)])[0]
        assert float(b.vector @ expected) > 0.999
        assert float(a.vector @ expected) < 0.999  # read in context, not alone


class _Counting:
    """The real embedder, counting the texts it is given."""

    def __init__(self, inner) -> None:
        self.inner, self.dim, self.texts = inner, inner.dim, 0

    def embed(self, texts, *, progress=False):
        self.texts += len(texts)
        return self.inner.embed(texts, progress=progress)


def test_a_question_about_the_author_quotes_the_byline(tmp_path, embedder):
    from index import open_index
    from index.build import build_index
    from rag.settings import Settings

    corpus = tmp_path / "c"
    corpus.mkdir()
    (corpus / "bridge.md").write_text(
        "Harbour bridge reopens after repairs\n\nBy [Jane Roe](#) | May 2, 2025\n\n"
        "The harbour bridge reopened on Friday after two years of repairs. "
        "Mayor Lindqvist cut the ribbon.\n",
        encoding="utf-8",
    )
    (corpus / "ferry.txt").write_text(
        "Ferry fares rise\n- City Desk\nFerry fares will rise by ten percent in June. "
        "The operator blamed fuel costs.\n",
        encoding="utf-8",
    )
    s = Settings.from_env({}, index_dir=tmp_path / "i", corpus_dir=corpus)
    build_index(s, embedder=embedder)
    idx = open_index(s, embedder=embedder)
    a = idx.ask("Who wrote the article about the harbour bridge reopening?")
    assert not a.abstained
    assert [c.quote for c in a.citations] == ["By Jane Roe | May 2, 2025"]
    _check_grounded(s, a)
    a = idx.ask("Who wrote the story on ferry fares?")
    assert [c.quote for c in a.citations] == ["City Desk"]
    _check_grounded(s, a)
    # who did something in the story is not who wrote it
    a = idx.ask("Who cut the ribbon on the harbour bridge?")
    assert "Lindqvist" in a.answer and "Jane Roe" not in a.answer


def test_word_vectors_are_embedded_once_and_cached_in_the_index(tmp_path, built, embedder):
    from index import open_index
    from index.build import build_index

    words = json.loads((built.index_dir / "words" / "words.json").read_text(encoding="utf-8"))
    assert len(words) > 500 and "ceasefire" in words
    counting = _Counting(embedder)
    build_index(built, embedder=counting)  # nothing changed: no document, no word embedded
    idx = open_index(built, embedder=counting)
    assert counting.texts == 0
    idx.ask("Which troops did Moscow send?")
    assert counting.texts <= 1 + len(re.findall(r"\w+", "Which troops did Moscow send?"))


def test_a_trace_is_returned_with_the_answer_not_left_on_the_index(index):
    plain = index.ask("Who dismissed the temporary truce?")
    assert plain.trace is None and "trace" not in plain.to_dict()
    traced = index.ask("Who dismissed the temporary truce?", trace=True)
    assert traced.trace is not None and traced.trace.reader == index.settings.reader
    assert set(traced.trace.seconds) == {"embed", "dense", "lexical", "fetch", "read", "total"}
    assert traced.trace.seconds["total"] >= traced.trace.seconds["read"] > 0
    assert traced.trace.ranked and traced.trace.ranked[0].text == traced.citations[0].quote
    assert not hasattr(index, "last_timings") and not hasattr(index, "last_ranking")


def test_the_learned_reader_answers_with_a_calibrated_confidence(index):
    """The shipped cross-encoder, loaded from rag/models/reader on the real base model."""
    a = index.ask("Who dismissed the temporary truce?", reader="learned", trace=True)
    assert a.confidence is not None and 0.0 <= a.confidence <= 1.0
    assert a.trace is not None and a.trace.reader == "learned"
    from rag.features import load_models

    read = [r.probability for r in a.trace.ranked[: load_models().read_top]]
    assert read and read == sorted(read, reverse=True)  # ranked by what it read first
    assert all(r.probability is not None for r in a.trace.ranked)
    if a.abstained:
        assert a.abstain_reason and "probability" in a.abstain_reason
    else:
        assert a.citations[0].role == "answer"
        assert a.citations[0].probability == pytest.approx(a.confidence)
    off = index.ask("What is the boiling point of liquid nitrogen?", reader="learned")
    assert off.confidence is not None and off.confidence < 0.9


class _BatchShaped:
    """A stand-in embedder whose vectors carry the size of the batch they were made in, as
    real ones may in their last bits on some CPUs."""

    def embed(self, texts, *, progress=False):
        return np.array([[float(len(t)), float(len(texts))] for t in texts])


def test_a_questions_unknown_words_do_not_depend_on_what_was_asked_before():
    from types import SimpleNamespace

    from index.service import Index
    from rag.lexical import WordVectors

    def vectors(asked_first):
        index = SimpleNamespace(_asked_words={}, embedder=_BatchShaped())
        for q in asked_first:
            Index._question_words(index, q, WordVectors({}))
        return Index._question_words(index, "Did zelinsky meet vance?", WordVectors({}))

    fresh = vectors([])
    after = vectors(["Where was zelinsky born?", "Did zelinsky meet trump and vance?"])
    assert fresh.keys() == after.keys() and len(fresh) >= 3
    assert all(np.array_equal(fresh[t], after[t]) for t in fresh)


def test_an_index_that_embedded_its_words_equals_one_reopened(tmp_path, corpus_copy, embedder):
    from index import open_index
    from index.build import build_index
    from rag.settings import Settings

    settings = Settings.from_env({}, index_dir=tmp_path / "idx", corpus_dir=corpus_copy)
    build_index(settings, embedder=embedder)
    shutil.rmtree(settings.index_dir / "words")  # the first open embeds the words itself
    made = open_index(settings, embedder=embedder)
    reopened = open_index(settings, embedder=embedder)  # reads the words it saved
    mine, saved = made._state().words.vectors, reopened._state().words.vectors
    assert mine.keys() == saved.keys() and len(mine) > 500
    assert all(np.array_equal(mine[t], saved[t]) for t in mine)
    for q in ("Which troops did Moscow send?", "What did Putin demand?"):
        assert made.ask(q).to_dict() == reopened.ask(q).to_dict()
