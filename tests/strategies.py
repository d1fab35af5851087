"""Hypothesis strategies shared by the property tests."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st


def shallow_json(
    scalars: st.SearchStrategy[Any], keys: st.SearchStrategy[str]
) -> st.SearchStrategy[Any]:
    """A scalar, or a small list or object of scalars."""
    return st.one_of(
        scalars,
        st.lists(scalars, max_size=3),
        st.dictionaries(keys, scalars, max_size=3),
    )


def nested_json(
    scalars: st.SearchStrategy[Any], keys: st.SearchStrategy[str], width: int
) -> st.SearchStrategy[Any]:
    """JSON-like values two levels deep, built from ``scalars`` and ``keys``.

    Written out rather than with ``st.recursive``, which is several times slower to draw from.
    """
    inner = shallow_json(scalars, keys)
    return st.one_of(
        scalars,
        st.lists(inner, max_size=width),
        st.dictionaries(keys, inner, max_size=width),
    )
