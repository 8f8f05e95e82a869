"""The bench's synthetic corpus: the same files for the same seed, and sizes read as people write them."""

from __future__ import annotations

import filecmp

import pytest

from bench.synth import parse_size, size_label, synth_corpus
from rag.errors import InputError


def test_synthetic_corpus_is_repeatable_and_varied(tmp_path):
    a = synth_corpus(tmp_path / "a", chunks=30, seed=3)
    b = synth_corpus(tmp_path / "b", chunks=30, seed=3)
    files = [d.source for d in a.docs]
    assert files == [d.source for d in b.docs]
    assert all(filecmp.cmp(tmp_path / "a" / f, tmp_path / "b" / f, shallow=False) for f in files)
    assert len({d.place for d in a.docs}) == len(a.docs)  # one town per story
    sentences = [s for d in a.docs for s in d.text.split(". ")]
    assert len(set(sentences)) > 0.95 * len(sentences)


def test_sizes_parse_and_refuse_nonsense():
    assert parse_size("1k") == 1000 and parse_size("10k") == 10_000 and parse_size("250") == 250
    for bad in ("ten", "5", "-1k"):
        with pytest.raises(InputError):
            parse_size(bad)
    assert size_label(10_000) == "10k" and size_label(2500) == "2500"
