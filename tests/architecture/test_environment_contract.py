"""The function environment is a contract between ``stack`` (which sets it) and ``handlers`` (which
reads it): every variable the definition sets for a function is read by that function's code, and
every variable its code reads is set. Read from the code itself, not from a list kept beside it."""

from __future__ import annotations

import ast
import re
from collections import Counter

import pytest
from aws_lambda_powertools.shared import constants as powertools

from stack.config import HookstackConfig, TenantConfig
from stack.definition.app import hookstack_stack
from tests.architecture.layers import REPO_ROOT, imports_of

VARIABLE = re.compile(r"^[A-Z][A-Z0-9]*(_[A-Z0-9]+)+$")
READERS = {"get", "getenv", "required", "integer"}  # env.get / os.getenv / the settings helpers
# What Powertools reads for the classes the handlers use (constants from Powertools itself).
POWERTOOLS_READS = {"Logger": {powertools.SERVICE_NAME_ENV, powertools.POWERTOOLS_LOG_LEVEL_ENV}}
# The platform's own variables (credentials, region, endpoint, runtime) are no part of the contract.
PLATFORM = ("AWS_", "LAMBDA_", "_")


def _closure(entry: str) -> set[str]:
    """The handlers modules the entry module imports, transitively (lazy imports included)."""
    seen, todo = set(), [entry]
    while todo:
        module = todo.pop()
        if module in seen:
            continue
        path = REPO_ROOT / (module.replace(".", "/") + ".py")
        if not path.exists():
            path = REPO_ROOT / module.replace(".", "/") / "__init__.py"
        if not path.exists():
            continue  # ``from package import name``: the name is not a module
        seen.add(module)
        for found in imports_of(path):
            if found.imported.startswith("handlers"):
                todo += [found.imported, found.imported.rpartition(".")[0]]
    return seen


def _source(module: str) -> ast.Module:
    path = REPO_ROOT / (module.replace(".", "/") + ".py")
    if not path.exists():
        path = REPO_ROOT / module.replace(".", "/") / "__init__.py"
    return ast.parse(path.read_text())


def _reads_in(node: ast.AST) -> set[str]:
    names: set[str] = set()
    for child in ast.walk(node):
        if isinstance(child, ast.Call):
            func = child.func
            called = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
            names |= POWERTOOLS_READS.get(called, set())
            if called in READERS:
                names |= {a.value for a in child.args if isinstance(a, ast.Constant) and isinstance(a.value, str)}
        elif isinstance(child, ast.Subscript) and isinstance(child.value, ast.Attribute):
            if child.value.attr == "environ" and isinstance(child.slice, ast.Constant):
                names.add(child.slice.value)
    return {n for n in names if VARIABLE.match(n) and not n.startswith(PLATFORM)}


def _names(node: ast.AST) -> Counter[str]:
    used: Counter[str] = Counter()
    for child in ast.walk(node):
        if isinstance(child, ast.Name):
            used[child.id] += 1
        elif isinstance(child, ast.Attribute):
            used[child.attr] += 1
        elif isinstance(child, ast.alias):
            used[child.asname or child.name.rpartition(".")[2]] += 1
    return used


def _reads(modules: set[str]) -> set[str]:
    """What the modules read; a top-level class or function counts only when the closure uses it
    (``handlers.contract.settings`` holds every function's settings class, each function uses one)."""
    trees = [_source(module) for module in sorted(modules)]
    used = sum((_names(tree) for tree in trees), Counter())
    names: set[str] = set()
    for tree in trees:
        for statement in tree.body:
            if isinstance(statement, ast.ClassDef | ast.FunctionDef):
                used_elsewhere = used[statement.name] - _names(statement)[statement.name]
                if used_elsewhere <= 0:
                    continue
            names |= _reads_in(statement)
    return names


def _full_config() -> HookstackConfig:
    """Every optional variable switched on, so the definition sets all it ever sets."""
    return HookstackConfig(
        fault_injection=True,
        identity_query_parameter="token",
        tenants=[TenantConfig(name="demo", source_cidrs=["127.0.0.1/32"])],
        patterns=["all"],
    )


FUNCTIONS = {f.handler: f for f in hookstack_stack(_full_config()).functions}


@pytest.mark.parametrize("handler", sorted(FUNCTIONS))
def test_what_the_stack_sets_is_what_the_function_reads(handler):
    function = FUNCTIONS[handler]
    sets = set(function.environment) | set(function.environment_refs)
    reads = _reads(_closure(handler.rpartition(".")[0]))
    assert sets - reads == set(), f"{handler}: set by the stack, read by nothing"
    assert reads - sets == set(), f"{handler}: read by the function, never set"


def test_the_reader_tells_the_functions_apart():
    """The check itself can fail: each function is credited only with what its own settings read."""
    authorizer = _reads(_closure("handlers.authorizer"))
    status = _reads(_closure("handlers.status"))
    assert {"TENANT_PARAMETER_PATH", "IDENTITY_HEADER", "IDENTITY_QUERY_PARAMETER"} <= authorizer
    assert "EVENTS_TABLE" in status and not {"QUEUE_URL", "TENANT_PARAMETER_PATH"} & status
