"""Route matching over a REST API's resource tree, the way API Gateway selects a resource.

A REST API is a tree of path parts: literal parts (``webhooks``), path parameters
(``{provider}``) and at most one greedy parameter per level (``{proxy+}``). API Gateway
prefers, at every level, a literal part over a parameter over a greedy parameter, and it
routes on the (resource, method) pair: a resource that matches the path but does not
serve the verb falls through to the next, less specific resource that does — a parameter
or a greedy resource — and when none does, the answer is 403 Missing Authentication
Token.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Generic, TypeVar
from urllib.parse import unquote

T = TypeVar("T")


@dataclass(slots=True)
class _Node(Generic[T]):
    literal: dict[str, _Node[T]] = field(default_factory=dict)
    param: tuple[str, _Node[T]] | None = None
    greedy: tuple[str, _Node[T]] | None = None
    resource: T | None = None
    methods: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class RouteMatch(Generic[T]):
    resource: T
    http_method: str  # the method entry that serves the request: the verb itself or ANY
    path_parameters: dict[str, str]


class RouteTable(Generic[T]):
    """Resources keyed by their template path (``/webhooks/{provider}``)."""

    def __init__(self, resources: Iterable[tuple[str, Iterable[str], T]]) -> None:
        """``resources``: (template path, methods it serves, resource) triples."""
        self._root: _Node[T] = _Node()
        for path, methods, resource in resources:
            node = self._root
            for part in _segments(path):
                node = _child(node, part)
            node.resource = resource
            node.methods = frozenset(m.upper() for m in methods)

    def match(self, path: str, http_method: str) -> RouteMatch[T] | None:
        """The resource and method serving ``http_method path`` (raw, percent-encoded path)."""
        segments = [unquote(s) for s in _segments(path)]
        return _walk(self._root, segments, 0, {}, http_method.upper())


def _segments(path: str) -> list[str]:
    return [s for s in path.split("/") if s]


def _child(node: _Node[T], part: str) -> _Node[T]:
    if part.startswith("{") and part.endswith("+}"):
        if node.greedy is None:
            node.greedy = (part[1:-2], _Node())
        return node.greedy[1]
    if part.startswith("{") and part.endswith("}"):
        if node.param is None:
            node.param = (part[1:-1], _Node())
        elif node.param[0] != part[1:-1]:
            raise ValueError(f"two path parameters at one level: {{{node.param[0]}}} and {part}")
        return node.param[1]
    return node.literal.setdefault(part, _Node())


def _serves(node: _Node[T], verb: str) -> str | None:
    if node.resource is None:
        return None
    if verb in node.methods:
        return verb
    if "ANY" in node.methods:
        return "ANY"
    return None


def _walk(
    node: _Node[T], segments: list[str], index: int, params: Mapping[str, str], verb: str
) -> RouteMatch[T] | None:
    """Depth-first, most specific branch first, backtracking until a resource serves the verb."""
    if index == len(segments):
        served = _serves(node, verb)
        if served is None:
            return None
        return RouteMatch(node.resource, served, dict(params))  # type: ignore[arg-type]
    segment = segments[index]
    literal = node.literal.get(segment)
    if literal is not None:
        found = _walk(literal, segments, index + 1, params, verb)
        if found is not None:
            return found
    if node.param is not None:
        name, child = node.param
        found = _walk(child, segments, index + 1, {**params, name: segment}, verb)
        if found is not None:
            return found
    if node.greedy is not None:
        name, child = node.greedy
        served = _serves(child, verb)
        if served is not None:
            return RouteMatch(child.resource, served, {**params, name: "/".join(segments[index:])})  # type: ignore[arg-type]
    return None
