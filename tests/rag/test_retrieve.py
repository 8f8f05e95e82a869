"""Retrieval's vocabulary: the modes and reciprocal rank fusion."""

from __future__ import annotations

import pytest

from rag.errors import InputError
from rag.retrieve import MODES, check_mode, fuse


def test_rrf():
    assert fuse([["a", "b"], ["b", "c"]])[0][0] == "b"


def test_the_modes_are_the_literal_s_values():
    assert MODES == ("hybrid", "dense", "lexical")
    for m in MODES:
        assert check_mode(m) == m


@pytest.mark.parametrize("bad", ["semantic", "Hybrid", "", None, 3])
def test_an_unknown_mode_is_an_input_error_naming_it(bad):
    with pytest.raises(InputError, match=r"hybrid, dense, lexical\. Currently, it is " + repr(bad)):
        check_mode(bad)
