"""What a request may carry: the body's size and how deeply its JSON nests.

Python's JSON decoder recurses; a body nested deeper than the interpreter's stack is a
``RecursionError``. :func:`load_json` refuses anything nested deeper than
:data:`MAX_JSON_DEPTH` as a plain :class:`JsonTooDeep` (a ``ValueError``), which the API and
the forms answer with 400.
"""

from __future__ import annotations

import json
from typing import Any

#: Smallest bound on a request body (bytes); it grows with ``client.maxPayloadSize``.
MAX_BODY = 1 << 20
#: Deepest nesting of arrays and objects accepted in a JSON body or payload.
MAX_JSON_DEPTH = 64


class JsonTooDeep(ValueError):
    """A JSON text nested deeper than :data:`MAX_JSON_DEPTH`."""

    def __init__(self) -> None:
        super().__init__(f"nested deeper than {MAX_JSON_DEPTH} levels of arrays and objects")


def body_limit(max_payload_size: int) -> int:
    """The largest request body accepted when payloads may be ``max_payload_size`` bytes of
    JSON (0: unbounded): room for a payload url-encoded in a form, at least
    :data:`MAX_BODY`."""
    if max_payload_size <= 0:
        return MAX_BODY
    return max(MAX_BODY, 3 * max_payload_size + 65536)


def depth(value: Any) -> int:
    """How deeply ``value`` (decoded JSON) nests arrays and objects (a scalar: 0)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, level + 1)
            if deepest > MAX_JSON_DEPTH:
                break
            stack.extend((child, level + 1) for child in item)
    return deepest


def load_json(text: str | bytes) -> Any:
    """``json.loads(text)``, refusing (:class:`JsonTooDeep`) nesting deeper than
    :data:`MAX_JSON_DEPTH`; other bad JSON raises ``ValueError`` as ``json.loads`` does."""
    try:
        value = json.loads(text)
    except RecursionError:
        raise JsonTooDeep() from None
    if depth(value) > MAX_JSON_DEPTH:
        raise JsonTooDeep()
    return value
