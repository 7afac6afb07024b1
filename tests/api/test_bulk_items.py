"""The bulk endpoint's item loader gives exactly what AttendanceInSchema.load gives."""

from __future__ import annotations

import marshmallow as ma
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attendance.api.bulk import ItemLoader, _items
from attendance.api.schemas import AttendanceInSchema

SCHEMA = AttendanceInSchema()

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-5, max_value=50),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([36.6, 37.25, 43, 28, 27.99, 36.666, -0.0, 1e100, 38.0]),
    st.sampled_from(["checkin", "checkout", "lunch", "", "36.6", "x" * 201, "NaN"]),
    st.sampled_from(
        ["2026-11-23T08:00:00Z", "2026-11-23T08:00:00+07:00", "2026-11-23T08:00:00", "soon"]
    ),
    st.text(max_size=5),
)
FIELDS = ["user_id", "school_id", "type", "temperature", "timestamp", "image", "client_event_id"]
items = st.dictionaries(st.sampled_from([*FIELDS, "colour"]), scalars, max_size=8)
wrapped = st.builds(lambda item: {"attendance": item}, items)
anything = st.one_of(items, wrapped, scalars, st.lists(scalars, max_size=2))


def by_schema(item):
    try:
        return SCHEMA.load(item)
    except ma.ValidationError as error:
        return error.messages


def by_loader(results):
    return [r.messages if isinstance(r, ma.ValidationError) else r for r in results]


@settings(max_examples=400, deadline=None)
@given(st.lists(anything, max_size=12))
def test_same_results_and_messages_as_the_schema(batch):
    assert by_loader(_items.load_all(batch)) == [by_schema(item) for item in batch]


@pytest.mark.parametrize(
    "item",
    [
        {"user_id": 1, "school_id": 1, "type": "checkin", "temperature": 36.6},
        {"user_id": True, "school_id": 1, "type": "checkin", "temperature": 36.6},
        {"user_id": 1.0, "school_id": 1, "type": "checkin", "temperature": 36.6},
        {"user_id": 1, "school_id": 1, "type": "checkin", "temperature": True},
        {"user_id": 1, "school_id": 1, "type": "checkin", "temperature": "36.6"},
    ],
)
def test_equal_values_of_other_types_are_not_confused(item):
    """1, 1.0 and True are equal in Python; the memo keys on the type as well."""
    first = {"user_id": 1, "school_id": 1, "type": "checkin", "temperature": 36.6}
    assert by_loader(_items.load_all([first, item])) == [by_schema(first), by_schema(item)]


def test_the_shortcut_is_taken_for_this_schema():
    assert _items.fast


def test_a_schema_with_other_hooks_gets_no_shortcut():
    class Checked(AttendanceInSchema):
        @ma.validates_schema
        def never(self, data, **kwargs):
            raise ma.ValidationError("no")

    loader = ItemLoader(Checked())
    assert not loader.fast
    item = {"user_id": 1, "school_id": 1, "type": "checkin", "temperature": 36.6}
    assert by_loader(loader.load_all([item])) == [{"_schema": ["no"]}]
