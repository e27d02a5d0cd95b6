"""The base of the records: JSON and JSON schema from a dataclass's fields."""

from __future__ import annotations

import dataclasses
import types
import typing
from enum import StrEnum
from typing import Any, ClassVar, Union

STATES = ("pending", "active", "scheduled", "retry", "archived", "completed", "waiting")


class Move(StrEnum):
    """What a move (run, archive, delete) or a cancel did to one task (here, not in
    :mod:`.tasks`: the broker names it, and ``stats`` loads no task records)."""

    DONE = "done"
    MISSING = "no such task"
    ALREADY = "already in that state"
    ACTIVE = "active"
    ASKED = "cancel requested"
    CANCELLED_WORKFLOW = "a step of a cancelled workflow"


class Record:
    """Base of the records: JSON and JSON schema from the dataclass fields."""

    __slots__ = ()

    #: Fields left out of the JSON while they are None (a stored record that lacks them).
    OMIT_NONE: ClassVar[frozenset[str]] = frozenset()
    #: Field name -> JSON name, for a JSON name that is a Python keyword.
    JSON_NAMES: ClassVar[dict[str, str]] = {}

    def to_json(self) -> dict[str, Any]:
        """The record as JSON-ready data (the shape the CLI and the API print)."""
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):  # type: ignore[arg-type]
            value = getattr(self, f.name)
            if value is None and f.name in self.OMIT_NONE:
                continue
            out[self.JSON_NAMES.get(f.name, f.name)] = to_json(value)
        return out

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """The JSON schema of :meth:`to_json`'s answer (nested records inline)."""
        hints = typing.get_type_hints(cls)
        props: dict[str, Any] = {}
        required = []
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            name = cls.JSON_NAMES.get(f.name, f.name)
            props[name] = type_schema(hints[f.name])
            if f.name not in cls.OMIT_NONE:
                required.append(name)
        doc = " ".join((cls.__doc__ or "").split("\n\n")[0].split())
        return {
            "title": cls.__name__,
            "description": doc,
            "type": "object",
            "properties": props,
            "required": required,
        }


def to_json(value: Any) -> Any:
    """``value`` with every record, list and mapping in it made JSON-ready."""
    if isinstance(value, Record):
        return value.to_json()
    if hasattr(value, "to_dict"):  # TaskInfo
        return value.to_dict()
    if isinstance(value, StrEnum):
        return str(value)
    if isinstance(value, list | tuple):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    return value


_SCALARS: dict[Any, dict[str, Any]] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    type(None): {"type": "null"},
}


@dataclasses.dataclass(frozen=True)
class Shape:
    """An answer that is not one record (a page that holds records): its keys and their
    types (type hints, records, or other shapes; :class:`Many` for a list of shapes),
    and those that may be absent."""

    keys: dict[str, Any]
    optional: frozenset[str] = frozenset()

    @classmethod
    def of(cls, record: type, exclude: tuple[str, ...] = (), **extra: Any) -> Shape:
        """The keys of a record (or any dataclass) less ``exclude``, plus ``extra``."""
        hints = typing.get_type_hints(record)
        names: dict[str, str] = getattr(record, "JSON_NAMES", {})
        keys = {
            names.get(f.name, f.name): hints[f.name]
            for f in dataclasses.fields(record)
            if f.name not in exclude
        }
        omit: frozenset[str] = getattr(record, "OMIT_NONE", frozenset())
        return cls({**keys, **extra}, frozenset(names.get(n, n) for n in omit) - set(extra))

    def json_schema(self) -> dict[str, Any]:
        """The JSON schema of an object of this shape."""
        return {
            "type": "object",
            "properties": {k: type_schema(v) for k, v in self.keys.items()},
            "required": [k for k in self.keys if k not in self.optional],
        }


@dataclasses.dataclass(frozen=True)
class Many:
    """A list of ``item`` (a shape, a record or a type hint)."""

    item: Any

    def json_schema(self) -> dict[str, Any]:
        """The JSON schema of the list."""
        return {"type": "array", "items": type_schema(self.item)}


@dataclasses.dataclass(frozen=True)
class Maybe:
    """``item`` or null."""

    item: Any

    def json_schema(self) -> dict[str, Any]:
        """The JSON schema of ``item`` or null."""
        return {"anyOf": [type_schema(self.item), {"type": "null"}]}


def type_schema(hint: Any) -> dict[str, Any]:
    """The JSON schema of a type hint (records, lists, dicts, unions, scalars), or of a
    :class:`Shape`, :class:`Many`, :class:`Maybe`, or a mapping of keys to types."""
    if isinstance(hint, Shape | Many | Maybe):
        return hint.json_schema()
    if isinstance(hint, dict):
        return Shape(hint).json_schema()
    if hint in _SCALARS:
        return dict(_SCALARS[hint])
    if hint is Any:
        return {}
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (Union, types.UnionType):
        return {"anyOf": [type_schema(a) for a in args]}
    if origin in (list, tuple):
        return {"type": "array", "items": type_schema(args[0]) if args else {}}
    if origin is dict:
        return {"type": "object", "additionalProperties": type_schema(args[1])}
    if isinstance(hint, type) and issubclass(hint, Record):
        return hint.json_schema()
    if isinstance(hint, type) and hasattr(hint, "json_schema"):
        return dict(hint.json_schema())
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        return {"type": "string", "enum": [str(m) for m in hint]}
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return Shape.of(hint).json_schema()
    return {}
