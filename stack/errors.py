"""The one exception type the CLI turns into a one-line error and a non-zero exit."""


class HookstackError(Exception):
    """A failure the user can act on; its message is shown as one line, without a traceback."""
