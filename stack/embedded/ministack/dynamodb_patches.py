"""``dynamodb-expression-tokens-cached``: MiniStack's DynamoDB expression tokenizer, memoised.

MiniStack 1.5.33 tokenizes every expression of every request character by character in Python
(``services/dynamodb.py`` ``_tokenize``): update, condition, key-condition and filter expressions.
A profile of the emulator under ``benchmarks/event_plane.py`` put it first in its own time (about a
tenth of the emulator's request CPU: the worker's TransactWriteItems carries two update expressions
and a condition, the producer's UpdateItem one), although a stack sends the same few expression
strings over and over with different values (the values travel apart, as ``:name`` references).

``_tokenize`` is a pure function of its string: it reads nothing else and returns a new list of
``(kind, text)`` string tuples. The patch keeps MiniStack's function and puts a bounded LRU cache in
front of it, keyed by the expression; each call returns a new list of the same (immutable) tuples,
so a caller that edits the list it got cannot change what the next caller sees. Same tokens, same
order, same errors downstream. ``tests/unit/stack/test_ministack_tokenize_cache.py`` compares both
on generated and real expressions.

What it relies on (read in MiniStack 1.5.33): every caller (update, condition, projection, key
condition, filter and redundant-parenthesis checks, all in ``services/dynamodb.py``) looks
``_tokenize`` up in the module globals at call time, and passes a ``str``. The guard refuses (MiniStack
then runs unpatched) for another release or another source of ``_tokenize``.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from types import ModuleType
from typing import Any

from stack.embedded.ministack.patches import PatchOutcome, installed_ministack_version, source_refusal

TOKENIZE_CACHE_PATCH = "dynamodb-expression-tokens-cached"
# Distinct expressions kept; a stack uses a few dozen, an adversarial client cannot grow it further.
TOKENIZE_CACHE_SIZE = 4096

_EXPECTED_TOKENIZE_SOURCE_SHA256 = {
    "_tokenize": "6abb13395c3ee7b6bed700d93698f366a293827c83e24558ca8f7a43e06cd066",
}


def cached_tokenize(tokenize: Callable[[str], list[Any]]) -> Callable[[Any], list[Any]]:
    """``tokenize`` behind an LRU cache; a fresh list per call."""
    remembered = functools.lru_cache(maxsize=TOKENIZE_CACHE_SIZE)(lambda expr: tuple(tokenize(expr)))

    def tokenize_cached(expr: Any) -> list[Any]:
        if not isinstance(expr, str):
            return tokenize(expr)  # not what MiniStack passes; never cached
        return list(remembered(expr))

    tokenize_cached.hookstack_patch = TOKENIZE_CACHE_PATCH  # type: ignore[attr-defined]  # marks it in place
    tokenize_cached.__wrapped__ = tokenize  # type: ignore[attr-defined]  # MiniStack's, for tests
    return tokenize_cached


def apply_tokenize_cache_patch(
    dynamodb_module: ModuleType | None = None, installed_version: str | None = None
) -> PatchOutcome:
    """Put the cache in front of MiniStack's DynamoDB ``_tokenize``, if it is safe."""
    if dynamodb_module is None:
        from ministack.services import dynamodb

        dynamodb_module = dynamodb
    current = getattr(dynamodb_module, "_tokenize", None)
    if getattr(current, "hookstack_patch", None) == TOKENIZE_CACHE_PATCH:
        return PatchOutcome(TOKENIZE_CACHE_PATCH, True, "already in place")
    version = installed_version if installed_version is not None else installed_ministack_version()
    refusal = source_refusal(dynamodb_module, _EXPECTED_TOKENIZE_SOURCE_SHA256, version)
    if refusal is not None:
        return PatchOutcome(TOKENIZE_CACHE_PATCH, False, refusal)
    assert current is not None  # the guard checked it is a function
    # Every caller looks the name up in the module globals at call time: rebinding suffices.
    setattr(dynamodb_module, "_tokenize", cached_tokenize(current))  # noqa: B010  (a module attribute: mypy sees no such name)
    return PatchOutcome(TOKENIZE_CACHE_PATCH, True, "DynamoDB expressions tokenized once per distinct string")
