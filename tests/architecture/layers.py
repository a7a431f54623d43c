"""hookstack's layers, read from the code's own imports (every import statement, lazy ones included).

    handlers        the Lambda code; imports nothing of ours outside ``handlers``
    stack           libraries: definition, deploy, clients, ops, embedded (not ``stack.cli``)
    loadtests chaos the harness, built on the libraries
    stack.cli       the composition root, with ``benchmarks``: may import everything

A module may import its own layer and the layers below it, never one above. The graph of
top-level parts has no cycle. ``python -m tests.architecture`` prints the graph and the verdict.
"""

from __future__ import annotations

import ast
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
OURS = ("handlers", "stack", "loadtests", "chaos", "benchmarks")
# Lowest first. A part is a top-level package, or ``stack.cli`` (the composition root inside stack).
LAYERS: tuple[tuple[str, ...], ...] = (("handlers",), ("stack",), ("loadtests", "chaos"), ("stack.cli", "benchmarks"))
# The signing and sending side of the clients: it must not share code with the Lambda code it checks,
# so a bug on both sides cannot make a broken signature or body look valid.
SIGNING_SIDE = ("stack.clients.providers", "stack.clients.webhook_client", "stack.clients.token_placement")


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name
    imported: str  # dotted module name (or module.attribute: only its prefix matters)
    path: str  # the importer's file, relative to the root
    line: int

    @property
    def where(self) -> str:
        return f"{self.path}:{self.line}"


def module_name(path: Path, root: Path = REPO_ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files(root: Path = REPO_ROOT) -> Iterator[Path]:
    for top in OURS:
        yield from sorted((root / top).rglob("*.py"))


def imports_of(path: Path, root: Path = REPO_ROOT) -> Iterator[Import]:
    importer = module_name(path, root)
    package = importer if path.name == "__init__.py" else importer.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative: resolve against the importing package
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            names = [f"{module}.{alias.name}" for alias in node.names] if module else []
        else:
            continue
        for name in names:
            if name.split(".")[0] in OURS:
                yield Import(importer, name, path.relative_to(root).as_posix(), node.lineno)


def all_imports(root: Path = REPO_ROOT) -> list[Import]:
    return [found for path in source_files(root) for found in imports_of(path, root)]


def part_of(module: str) -> str:
    """The part a module belongs to: ``stack.cli`` for the composition root, else its top package."""
    if module == "stack.cli" or module.startswith("stack.cli."):
        return "stack.cli"
    return module.split(".")[0]


def layer_of(part: str) -> int:
    for index, parts in enumerate(LAYERS):
        if part in parts:
            return index
    raise ValueError(f"{part} is in no layer")


def part_graph(imports: Iterable[Import]) -> Counter[tuple[str, str]]:
    """Import statements between parts: (importer part, imported part) → count."""
    return Counter(
        (part_of(found.importer), part_of(found.imported))
        for found in imports
        if part_of(found.importer) != part_of(found.imported)
    )


def cycles(graph: Iterable[tuple[str, str]]) -> list[tuple[str, ...]]:
    """Every elementary cycle among the parts, each once (the graph has a handful of nodes)."""
    edges: dict[str, set[str]] = {}
    for a, b in graph:
        edges.setdefault(a, set()).add(b)
    found: set[tuple[str, ...]] = set()

    def walk(path: list[str]) -> None:
        for nxt in sorted(edges.get(path[-1], ())):
            if nxt == path[0]:
                start = path.index(min(path))
                found.add(tuple(path[start:] + path[:start]))
            elif nxt not in path:
                walk([*path, nxt])

    for node in sorted(edges):
        walk([node])
    return sorted(found)


def violations(imports: Iterable[Import]) -> list[str]:
    """Every import that breaks a rule, as ``file:line: importer imports imported (why)``."""
    imports = list(imports)
    broken = []
    for found in imports:
        mine, theirs = part_of(found.importer), part_of(found.imported)
        if layer_of(theirs) > layer_of(mine):
            broken.append(f"{found.where}: {found.importer} imports {found.imported} ({theirs} is above {mine})")
        if found.importer.startswith(SIGNING_SIDE) and theirs == "handlers":
            broken.append(
                f"{found.where}: {found.importer} imports {found.imported} (the signing side checks handlers)"
            )
    for cycle in cycles(part_graph(imports)):
        broken.append(f"cycle between parts: {' → '.join((*cycle, cycle[0]))}")
    return broken


def report(imports: list[Import]) -> str:
    lines = ["layers (lowest first): " + " ← ".join(" ".join(parts) for parts in LAYERS), "", "imports between parts:"]
    for (a, b), count in sorted(part_graph(imports).items(), key=lambda item: (layer_of(item[0][0]), item[0])):
        lines.append(f"  {a:<10} → {b:<10} {count:>3} import statement(s)")
    broken = violations(imports)
    lines += ["", f"verdict: {'BROKEN' if broken else 'OK'} ({len(imports)} imports of our own modules read)"]
    lines += [f"  {line}" for line in broken]
    return "\n".join(lines)
