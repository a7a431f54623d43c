"""What "valid JSON" means for a request body (docs/providers.md, "What valid JSON means").

RFC 8259 JSON text in UTF-8, read by pydantic-core's parser — the parser the worker validates
the same body with, so the producer never accepts a body the worker cannot read (and the two
never read one body two ways):

- UTF-8, no byte order mark (RFC 8259 §8.1);
- no ``NaN``, ``Infinity`` or ``-Infinity`` (not JSON: RFC 8259 §6);
- nesting at most ``MAX_NESTING_DEPTH`` levels: no value inside more than 200 arrays and objects
  (RFC 8259 §9 lets a receiver limit depth; the parser stops at the limit without recursing in
  Python, so no depth can raise RecursionError);
- integers at most ``MAX_INTEGER_DIGITS`` digits, other numbers within a 64-bit float's range
  (RFC 8259 §6 lets a receiver limit range and precision);
- no unpaired UTF-16 surrogate escape such as ``"\\ud800"`` (RFC 8259 §8.2: such strings have no
  predictable meaning);
- duplicate object names are accepted and the last value wins (RFC 8259 §4 says names SHOULD be
  unique; the worker's parser also keeps the last, so both read one document).

Every refusal is a ``JsonBodyError`` whose text is a one-line reason with the position.
"""

from __future__ import annotations

import math
import re
from typing import Any

from pydantic_core import from_json

# pydantic-core's parser limit (its recursion limit): a deeper body cannot be read by the worker.
MAX_NESTING_DEPTH = 200
# pydantic-core's (and CPython's) limit on the digits of one integer.
MAX_INTEGER_DIGITS = 4300

_POSITION = re.compile(r"^(?P<problem>.*) at line (?P<line>\d+) column (?P<column>\d+)$")
# A float can reach infinity only with a 3-digit exponent or 210+ integer digits (10^309 > max):
# only bodies holding such a run are searched for non-finite numbers.
_OVERFLOW_CANDIDATE = re.compile(r"[eE]\+?0*[1-9][0-9]{2}|[0-9]{210}")
_NOT_JSON_CONSTANTS = (b"NaN", b"Infinity")


class JsonBodyError(ValueError):
    """The body is not JSON as defined above; ``str(error)`` is the one-line reason (400)."""


def read_json_body(body: bytes) -> tuple[str, Any]:
    """The body as text and as a parsed document, or JsonBodyError with the reason."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise JsonBodyError(
            f"body is not UTF-8: invalid byte 0x{body[error.start]:02x} at offset {error.start}"
        ) from None
    if not text.strip(" \t\r\n"):
        raise JsonBodyError("body is empty")
    if text.startswith("\ufeff"):
        raise JsonBodyError("body starts with a byte order mark, which JSON text must not (RFC 8259 section 8.1)")
    try:
        document = from_json(body, allow_inf_nan=False)
    except ValueError as error:
        raise JsonBodyError(_reason(body, str(error))) from None
    if _OVERFLOW_CANDIDATE.search(text) and _holds_non_finite_number(document):
        raise JsonBodyError("body has a number beyond the range of a 64-bit float")
    return text, document


def _reason(body: bytes, message: str) -> str:
    match = _POSITION.match(message)
    if match is None:
        return f"body is not valid JSON: {message}"
    problem, line, column = match["problem"], int(match["line"]), int(match["column"])
    where = f"at line {line} column {column}"
    if problem == "recursion limit exceeded":
        return f"body is nested more than {MAX_NESTING_DEPTH} levels deep ({where})"
    if problem == "number out of range":
        return f"body has a number out of range ({where}; integers may have at most {MAX_INTEGER_DIGITS} digits)"
    if _starts_a_not_json_constant(body, line, column):
        return f"body has NaN or Infinity, which are not JSON (RFC 8259 section 6) ({where})"
    return f"body is not valid JSON: {problem} ({where})"


def _starts_a_not_json_constant(body: bytes, line: int, column: int) -> bool:
    """Whether the parser stopped on NaN / Infinity (its column counts bytes from 1)."""
    line_start = 0
    for _ in range(line - 1):
        line_start = body.find(b"\n", line_start) + 1
        if line_start == 0:
            return False
    offset = line_start + column - 1
    return any(body.startswith(constant, start) for constant in _NOT_JSON_CONSTANTS for start in (offset, offset + 1))


def _holds_non_finite_number(document: Any) -> bool:
    # Iterative: the document is at most MAX_NESTING_DEPTH deep, but no recursion is needed.
    pending = [document]
    while pending:
        value = pending.pop()
        if isinstance(value, float):
            if not math.isfinite(value):
                return True
        elif isinstance(value, dict):
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return False
