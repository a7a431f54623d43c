"""The user's job function, as ``--handler module:function`` names it."""

from __future__ import annotations

import functools
import importlib
import os
import sys
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from stack.errors import UsageError

if TYPE_CHECKING:
    from stack.jobs_consumer.job import Job

JobFunction = Callable[["Job"], Mapping[str, Any]]


class HandlerNotFound(UsageError):
    """``--handler`` names no callable that can be imported."""


def _importable_from_here() -> None:
    """The `hookstack` script does not put the current directory on sys.path, as ``python -m``
    does: a handler in the directory the consumer runs from must import all the same."""
    here = os.getcwd()
    if here not in sys.path and "" not in sys.path:
        sys.path.insert(0, here)


def load_handler(spec: str) -> JobFunction:
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise HandlerNotFound(f"--handler {spec!r}: expected module:function (e.g. mypackage.jobs:run)")
    _importable_from_here()
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (module_name == exc.name or module_name.startswith(f"{exc.name}.")):
            raise HandlerNotFound(f"--handler {spec}: no module named {module_name!r}") from None
        raise HandlerNotFound(f"--handler {spec}: importing {module_name} failed: {exc}") from None
    except Exception as exc:  # noqa: BLE001  (whatever the user's module raises at import is reported in one line)
        raise HandlerNotFound(f"--handler {spec}: importing {module_name} raised {type(exc).__name__}: {exc}") from None
    try:
        function = functools.reduce(getattr, attribute.split("."), module)
    except AttributeError:
        raise HandlerNotFound(f"--handler {spec}: module {module_name} has no {attribute!r}") from None
    if not callable(function):
        raise HandlerNotFound(f"--handler {spec}: {attribute} is a {type(function).__name__}, not a function")
    return function
