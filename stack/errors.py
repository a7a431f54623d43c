"""The exception types the CLI turns into a one-line error and a non-zero exit."""


class HookstackError(Exception):
    """A failure the user can act on; its message is shown as one line, without a traceback."""

    exit_code: int = 1


class UsageError(HookstackError):
    """Input that cannot be used as given (a malformed option value or expression). Exit code 2,
    as for the command line's own usage errors, so CI tells a typo from a failed check (exit 1)."""

    exit_code = 2
