"""The body loader (schemas/loader.py) gives exactly what AttendanceInSchema.load gives:
for the items of a batch, and for the body of one check-in."""

from __future__ import annotations

import marshmallow as ma
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from attendance.api.bulk import _items, load_all
from attendance.api.schemas import AttendanceInSchema
from attendance.schemas.loader import BodyLoader

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
    assert by_loader(load_all(batch)) == [by_schema(item) for item in batch]


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
    assert by_loader(load_all([first, item])) == [by_schema(first), by_schema(item)]


def test_the_shortcut_is_taken_for_this_schema():
    assert _items.fast


def test_a_schema_with_other_hooks_gets_no_shortcut():
    class Checked(AttendanceInSchema):
        @ma.validates_schema
        def never(self, data, **kwargs):
            raise ma.ValidationError("no")

    loader = BodyLoader(Checked())
    assert not loader.fast
    item = {"user_id": 1, "school_id": 1, "type": "checkin", "temperature": 36.6}
    assert loader.quick(item) is None
    with pytest.raises(ma.ValidationError) as raised:
        loader.load(item)
    assert raised.value.messages == {"_schema": ["no"]}


SINGLE = BodyLoader(AttendanceInSchema())
plain = st.fixed_dictionaries(
    {
        "user_id": st.one_of(st.integers(min_value=-2, max_value=2**31), scalars),
        "school_id": st.one_of(st.integers(min_value=-2, max_value=2**31), scalars),
        "type": st.one_of(st.sampled_from(["checkin", "checkout"]), scalars),
        "temperature": st.one_of(
            st.decimals(min_value=27, max_value=44, places=3).map(float), scalars
        ),
    },
    optional={
        "timestamp": scalars,
        "client_event_id": st.one_of(st.text(min_size=1, max_size=201), scalars),
        "image": scalars,
    },
)


@settings(max_examples=600, deadline=None)
@given(st.one_of(plain, plain.map(lambda body: {"attendance": body}), anything))
def test_a_single_body_is_taken_only_as_the_schema_takes_it(body):
    """The shortcut of POST /api/attendances: what it takes, the schema loads alike;
    what it does not take goes to the schema (with its messages)."""
    quick = SINGLE.quick(body)
    if quick is not None:
        assert quick == SCHEMA.load(body)  # which must not raise either
    assert by_loader([_load(SINGLE, body)]) == [by_schema(body)]


def _load(loader, body):
    try:
        return loader.load(body)
    except ma.ValidationError as error:
        return error


def test_the_shortcut_takes_a_plain_check_in():
    body = {"user_id": 7, "school_id": 3, "type": "checkin", "temperature": 36.6}
    assert SINGLE.quick(body) == SCHEMA.load(body)
    assert SINGLE.quick({"attendance": body}) == SCHEMA.load(body)
    assert SINGLE.quick({**body, "colour": "red"}) is None  # unknown: the schema's 422


def test_a_remembered_error_holds_no_frames():
    """A batch (or a roster file) repeating a refused value: the memo's error keeps no
    traceback, which would grow with the repeats and hold the stacks they were met in."""
    memo: dict = {}
    items = [{"user_id": 1, "school_id": 1, "type": "nap", "temperature": 36.6}] * 50
    for item in items:
        with pytest.raises(ma.ValidationError):
            _items.load(item, memo)
    [error] = [v for v in memo.values() if isinstance(v, ma.ValidationError)]
    assert error.__traceback__ is None


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.lists(anything, max_size=6), scalars))
def test_a_batch_loads_as_a_list_of_raw_values_does(batch) -> None:
    """BulkItem takes each item as marshmallow's Raw does, without its bookkeeping: the
    same loaded batch (the very item objects) and the same messages (null items)."""
    from marshmallow import fields, validate

    from attendance.api.bulk import MAX_ITEMS, BulkInSchema

    declared = BulkInSchema().fields["attendances"]
    length = next(v for v in declared.validators if isinstance(v, validate.Length))
    reference = ma.Schema.from_dict(
        {
            "attendances": fields.List(
                fields.Raw(),
                required=True,
                validate=validate.Length(min=1, max=MAX_ITEMS, error=length.error),
            )
        },
        name="RawBatch",
    )()

    def outcome(schema, body):
        try:
            return schema.load(body)
        except ma.ValidationError as error:
            return error.messages

    body = {"attendances": batch}
    ours = outcome(BulkInSchema(), body)
    assert ours == outcome(reference, body)
    if isinstance(batch, list) and "attendances" in ours and isinstance(ours["attendances"], list):
        if len(ours["attendances"]) == len(batch) and batch:
            assert all(a is b for a, b in zip(ours["attendances"], batch, strict=True))
