"""Shared fixtures: the real model loaded once, and a real index of the bundled corpus."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import hypothesis
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

# Property tests draw the same examples on every run, so `make test` passes or fails the same
# way on every machine; a failure they find is kept as an @example. To search for new ones:
# HYPOTHESIS_PROFILE=explore make test
hypothesis.settings.register_profile("fixed", derandomize=True)
hypothesis.settings.register_profile("explore", derandomize=False)
hypothesis.settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fixed"))

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / "corpus"
QA_FILE = ROOT / "eval" / "qa.jsonl"
# a few invented articles in SQuAD v1.1 format, written for the tests of the SQuAD path
MINI_SQUAD = ROOT / "tests" / "eval" / "data" / "mini-squad.json"
# XQuAD's English set is not in the repository; this workspace keeps a copy beside it
XQUAD_EN = ROOT.parent / "shared" / "datasets" / "xquad-en" / "xquad.en.json"
# SQuAD-shifts, the training data: read by path, never committed (a user's clone has none)
TRAINING_DATA = ROOT.parent / "shared" / "datasets" / "train-squadshifts"
needs_training_data = pytest.mark.skipif(
    not (TRAINING_DATA / "new_wiki_v1.0.json").is_file(),
    reason=f"the training data is not here ({TRAINING_DATA}); it is read by path, never committed",
)


@pytest.fixture(scope="session")
def embedder():
    """The real all-MiniLM-L6-v2, loaded once for the whole run."""
    from rag.embed import MiniLMEmbedder

    e = MiniLMEmbedder()
    e.embed(["warm up"])
    return e


@pytest.fixture(scope="session")
def corpus_copy(tmp_path_factory) -> Path:
    """A private copy of the bundled corpus (tests may not touch the real one)."""
    dst = tmp_path_factory.mktemp("corpus") / "corpus"
    shutil.copytree(CORPUS, dst)
    return dst


@pytest.fixture(scope="session")
def settings(tmp_path_factory, corpus_copy):
    from rag.settings import Settings

    return Settings.from_env({}, index_dir=tmp_path_factory.mktemp("index"), corpus_dir=corpus_copy)


@pytest.fixture(scope="session")
def built(settings, embedder):
    """The bundled corpus indexed once, into a real Chroma in a temp folder."""
    from index.build import build_index

    report = build_index(settings, embedder=embedder)
    assert not report.skipped
    return settings


@pytest.fixture(scope="session")
def index(built, embedder):
    from index import open_index

    return open_index(built, embedder=embedder)
