"""The records passed between stages: filters refuse values they cannot mean."""

from __future__ import annotations

import pytest

from rag.errors import InputError, RagError
from rag.types import Filters


def test_filters_are_plain_data():
    f = Filters(sources=["a.txt"], date_from="2025-01-01", date_to="2025-12-31")  # type: ignore[arg-type]
    assert f.sources == ("a.txt",) and f == Filters(("a.txt",), "2025-01-01", "2025-12-31")
    assert hash(f) == hash(Filters(("a.txt",), "2025-01-01", "2025-12-31"))
    assert Filters() == Filters((), None, None)


@pytest.mark.parametrize(
    ("kwargs", "named"),
    [
        ({"date_from": "2025-3-1"}, "date_from.*'2025-3-1'"),
        ({"date_to": "March 2025"}, "date_to.*'March 2025'"),
        ({"date_from": "2025-02-30"}, "'2025-02-30'"),  # the right shape, but no such day
        ({"date_to": "20250301"}, "'20250301'"),
        ({"date_from": ""}, "date_from.*''"),
        ({"date_from": 20250301}, "20250301"),
        ({"sources": "a.txt"}, "sources must be a tuple of file names.*'a.txt'"),
        ({"date_from": "2025-03-02", "date_to": "2025-03-01"}, r"2025-03-02\) is after"),
    ],
)
def test_bad_filter_values_are_input_errors_naming_the_value(kwargs, named):
    with pytest.raises(InputError, match=named) as e:
        Filters(**kwargs)
    assert isinstance(e.value, RagError)
