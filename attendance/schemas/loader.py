"""`schema.load(body)` for the plain bodies clients send, at a fraction of its cost.

marshmallow's `load` does bookkeeping around each field (error stores, hooks, partial
and unknown handling) that costs more than the fields themselves on a small body: a
check-in's validation took longer than its insert. A `BodyLoader` gives a plain body (an
object of known fields, bare or wrapped, every required one present) to the schema's
own field objects, which is what `load` does with it; anything else, and any body a
field refuses, goes through `load` itself, so that results and messages are exactly the
schema's. Should the schema gain hooks or options this shortcut does not reproduce, the
shortcut is not taken.
"""

from __future__ import annotations

import weakref
from typing import Any

import marshmallow as ma

from .fields import BodySchema

Memo = dict[tuple[str, type, Any], Any]


class BodyLoader:
    """Loads bodies of one `BodySchema` instance as its `load` would."""

    KNOWN_HOOKS: dict[str, list[Any]] = {"pre_load": [("unwrap", False, {})]}
    MEMO_TYPES = (int, float, str)

    def __init__(self, schema: BodySchema, repetitive: frozenset[str] = frozenset()) -> None:
        """`repetitive`: fields whose values repeat across the bodies of one batch, each
        value deserialized once per batch when a memo is passed (fields are pure
        functions of their value)."""
        self.schema = schema
        self.fields = schema.load_fields
        # A partial schema (`partial=True`, or the names it may omit) requires no more
        # than it says; decided here, so the fast path costs the same either way.
        partial = schema.partial
        self.required = frozenset(
            n
            for n, f in self.fields.items()
            if f.required and not (partial is True or (partial and n in partial))
        )
        self.repetitive = repetitive
        self.fast = (
            # Non-empty ones only: marshmallow's `load` adds empty lists to the class's
            # hooks as it looks them up, so once any instance has loaded a body, its
            # class's hooks hold keys that name no hook.
            {kind: hooks for kind, hooks in schema._hooks.items() if hooks} == self.KNOWN_HOOKS
            and schema.unknown == ma.RAISE
            and not schema.many
            and all(
                f.data_key is None and f.attribute is None and f.load_default is ma.missing
                for f in self.fields.values()
            )
        )

    def load(self, raw: Any, memo: Memo | None = None) -> dict[str, Any]:
        """`schema.load(raw)`: the loaded body, or the schema's ValidationError."""
        quick = self.quick(raw, memo)
        if quick is not None:
            return quick
        result: dict[str, Any] = self.schema.load(raw)
        return result

    def quick(self, raw: Any, memo: Memo | None = None) -> dict[str, Any] | None:
        """What `schema.load(raw)` returns, when the shortcut takes the body; else None
        (the schema's own `load` must then say what it makes of it)."""
        if not self.fast:
            return None
        try:
            data = self.schema.unwrap(raw)
        except ma.ValidationError:
            return None
        if type(data) is not dict or not self.required <= data.keys() <= self.fields.keys():
            return None
        fields = self.fields
        loaded: dict[str, Any] = {}
        # Without a memo, nothing is memoized (an empty `repetitive`).
        repetitive = self.repetitive if memo is not None else frozenset()
        seen: Memo = memo if memo is not None else {}
        memo_types = self.MEMO_TYPES
        try:
            for name, value in data.items():
                if name in repetitive and type(value) in memo_types:
                    key = (name, type(value), value)  # the type: 1, 1.0 and True are equal
                    result = seen.get(key, seen)
                    if result is seen:  # not seen in this batch yet
                        result = seen[key] = self._or_error(fields[name], name, value, data)
                    if isinstance(result, ma.ValidationError):
                        raise result
                    loaded[name] = result
                else:
                    loaded[name] = fields[name].deserialize(value, name, data)
        except ma.ValidationError as error:
            error.__traceback__ = None  # a memo's error keeps no frame (see `_or_error`)
            return None
        return loaded

    @staticmethod
    def _or_error(field: ma.fields.Field, name: str, value: Any, data: dict[str, Any]) -> Any:
        """The field's value, or the ValidationError it raises (a memo keeps either).

        An error is kept without its traceback, and `quick` drops the one each raise gives
        it: its frames would hold the stack it was raised in (the request's, the items'),
        and raising it again would chain one more frame onto it for every repeat.
        """
        try:
            return field.deserialize(value, name, data)
        except ma.ValidationError as error:
            return error.with_traceback(None)


_loaders: weakref.WeakKeyDictionary[ma.Schema, BodyLoader] = weakref.WeakKeyDictionary()


def loaded_quickly(schema: BodySchema) -> BodySchema:
    """Mark a route's body schema for the shortcut (`api.common.Parser` takes it)."""
    _loaders[schema] = BodyLoader(schema)
    return schema


def loader_of(schema: Any) -> BodyLoader | None:
    """The shortcut of a marked schema instance, if it is one."""
    try:
        return _loaders.get(schema)
    except TypeError:  # not weakly referable (a dict of fields, a callable)
        return None
