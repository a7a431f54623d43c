"""The exception types the CLI turns into a one-line error and a non-zero exit."""


class HookstackError(Exception):
    """A failure the user can act on; its message is shown as one line, without a traceback."""

    exit_code: int = 1


class UsageError(HookstackError):
    """Input that cannot be used as given (a malformed option value or expression). Exit code 2,
    as for the command line's own usage errors, so CI tells a typo from a failed check (exit 1)."""

    exit_code = 2


class NoApiError(HookstackError):
    """The stage renders no REST API: none of its patterns has a route (API Gateway refuses to
    deploy an API without methods), so a command that sends or reads through the API cannot run."""

    def __init__(self, stage: str, patterns: list[str]) -> None:
        super().__init__(
            f"stage {stage!r} has no API: none of its patterns ({', '.join(patterns)}) has a route "
            "(add one that does, e.g. `--pattern webhooks`)"
        )
