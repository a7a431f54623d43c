"""The CLI's edge: every failure a user can cause or meet becomes one line and a non-zero exit.

``HookstackError`` is the one root of hookstack's own errors. Errors raised by the libraries
underneath (a missing file, AWS refusing a call, an emulator that is gone) are translated here,
once, instead of being caught command by command. Anything else is a bug in hookstack: it is
still one line, saying so, and ``HOOKSTACK_DEBUG=1`` shows the traceback.
"""

from __future__ import annotations

import os

import botocore.exceptions
import pydantic
import typer

from stack.errors import HookstackError

DEBUG_VARIABLE = "HOOKSTACK_DEBUG"


def _validation_line(exc: pydantic.ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ())) or exc.title
    return f"{where}: {first.get('msg', 'invalid value')}"


def _usage_line(exc: typer.TyperException) -> str:
    """A command-line error (an option out of range, an unknown option): what was wrong, and the
    command whose --help says what is right."""
    context = getattr(exc, "ctx", None)
    command = getattr(context, "command_path", None)
    where = f" (see `{command} --help`)" if command else ""
    return f"{exc.format_message()}{where}"


def error_line(exc: Exception) -> str | None:
    """The one line for an error a user can cause or meet; None when it is a bug in hookstack."""
    if isinstance(exc, HookstackError):
        return str(exc)
    if isinstance(exc, typer.TyperException):  # the command line's own parsing (click's usage errors)
        return _usage_line(exc)
    if isinstance(exc, botocore.exceptions.NoCredentialsError):
        return "aws: no credentials found (set a profile with --profile, or AWS_PROFILE / the default credential chain)"
    if isinstance(exc, botocore.exceptions.EndpointConnectionError):
        return f"nothing answers at {exc.kwargs.get('endpoint_url', 'the endpoint')}: is the stack up (`hookstack up`)?"
    if isinstance(exc, botocore.exceptions.ClientError):
        error = exc.response.get("Error", {})
        return f"{exc.operation_name}: {error.get('Code', 'error')}: {error.get('Message', '')}".rstrip(": ")
    if isinstance(exc, botocore.exceptions.BotoCoreError):
        return str(exc)
    if isinstance(exc, OSError):
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror or exc}"
    if isinstance(exc, pydantic.ValidationError):
        return _validation_line(exc)
    return None


def exit_code(exc: Exception) -> int:
    """2 for input that cannot be used as given (as for the command line's usage errors), else 1."""
    return exc.exit_code if isinstance(exc, HookstackError | typer.TyperException) else 1


def bug_line(exc: Exception) -> str:
    return f"unexpected {type(exc).__name__}: {exc} (a bug in hookstack; {DEBUG_VARIABLE}=1 shows the traceback)"


def debugging() -> bool:
    return os.environ.get(DEBUG_VARIABLE, "") not in ("", "0")
