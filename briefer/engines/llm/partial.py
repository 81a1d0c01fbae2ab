"""What a reply cut off at its output limit still holds: the JSON up to the cut, closed.

A model stopped by ``max_tokens`` leaves JSON open mid-value. ``parse_truncated`` closes it
at the last element or member that was complete (every array and object still open is
closed after it) and keeps the latest such cut that the output model accepts, so a cut-off
map reply keeps its complete claims and a cut-off reduce its complete bullets. Nothing is
invented: an element is kept only when the model finished writing it.

``looks_looping`` tells a reply that was cut off because it repeated itself (small local
models at temperature 0 do) from one that simply had more to say.
"""

from __future__ import annotations

import zlib
from typing import TypeVar

from pydantic import BaseModel, ValidationError

Output = TypeVar("Output", bound=BaseModel)

_CLOSERS = {"{": "}", "[": "]"}
_MAX_TRIES = 64  # candidate cuts tried, latest first
_LOOP_TAIL = 1200  # characters of the reply's end that are checked for repetition
_LOOP_RATIO = 0.2  # a tail that compresses this well is mostly one thing repeated


def truncation_cuts(text: str) -> list[str]:
    """Return ``text`` closed at each complete element or member, latest cut first.

    A cut falls before a comma, or after a closing bracket, outside any string; the
    brackets still open at the cut are closed in order.
    """
    stack: list[str] = []
    cuts: list[str] = []
    in_string = escaped = False
    for index, char in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
            continue
        if char == '"':
            in_string = True
        elif char in _CLOSERS:
            stack.append(_CLOSERS[char])
        elif char in "}]":
            if not stack or stack[-1] != char:
                break  # not JSON we can mend
            stack.pop()
            cuts.append(text[: index + 1] + "".join(reversed(stack)))
        elif char == "," and stack:
            cuts.append(text[:index] + "".join(reversed(stack)))
    return cuts[::-1]


def parse_truncated(text: str, output: type[Output]) -> Output | None:
    """Return the most of a cut-off JSON reply that ``output`` accepts, or None."""
    start = text.find("{")
    if start < 0:
        return None
    for candidate in truncation_cuts(text[start:])[:_MAX_TRIES]:
        try:
            return output.model_validate_json(candidate)
        except ValidationError:
            continue
    return None


def looks_looping(text: str) -> bool:
    """Return whether the end of ``text`` is mostly one stretch repeated over and over."""
    tail = text[-_LOOP_TAIL:].encode("utf-8")
    if len(tail) < _LOOP_TAIL // 2:
        return False
    return len(zlib.compress(tail, 9)) < len(tail) * _LOOP_RATIO
