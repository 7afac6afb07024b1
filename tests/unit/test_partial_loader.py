"""The body loader of a partial schema (a roster's rows: schemas/loader.py, used by
services/roster/plan.py) gives exactly what the schema's own `load` gives."""

from __future__ import annotations

import marshmallow as ma
from hypothesis import given, settings
from hypothesis import strategies as st

from attendance.schemas.loader import BodyLoader
from attendance.schemas.users import UserInSchema

PARTIAL = UserInSchema(partial=True)
LOADER = BodyLoader(PARTIAL, repetitive=frozenset({"school_id", "group", "enrolled_from"}))

# What a roster's cells become (text or None), and a few values no roster gives.
cells = st.one_of(
    st.none(),
    st.sampled_from(["", " ", "Ada", "5B", "2026-09-01", "01/09/2026", "2026-02-30", "x" * 65]),
    st.sampled_from(["Two\nlines", "\x00", "1", "P-1", "3000-01-01"]),
    st.text(max_size=6),
    st.integers(min_value=-1, max_value=3),
    st.booleans(),
)
rows = st.dictionaries(
    st.sampled_from(
        ["school_id", "external_id", "name", "group", "enrolled_from", "enrolled_until", "x"]
    ),
    cells,
    max_size=7,
)


def outcome(load, body):
    try:
        return load(body)
    except ma.ValidationError as error:
        return error.messages


@settings(max_examples=500, deadline=None)
@given(st.lists(rows, max_size=8))
def test_same_results_and_messages_as_the_partial_schema(file):
    memo: dict = {}
    assert [outcome(lambda b: LOADER.load(b, memo), body) for body in file] == [
        outcome(PARTIAL.load, body) for body in file
    ]


def test_a_partial_schema_takes_the_shortcut_without_its_required_fields():
    PARTIAL.load({"school_id": 1})  # a load before a loader is made changes nothing
    assert LOADER.fast and LOADER.required == frozenset()
    body = {"school_id": 1, "external_id": "P1", "group": "5B"}
    assert LOADER.quick(body) == PARTIAL.load(body)  # no name: partial
    whole = BodyLoader(UserInSchema())
    assert whole.required == {"name", "school_id"}
    assert whole.quick(body) is None  # the schema says what is missing
    only_name = BodyLoader(UserInSchema(partial=("name",)))
    assert only_name.required == {"school_id"}
    assert only_name.quick(body) == UserInSchema(partial=("name",)).load(body)
