"""Failure kinds the worker routes on: a permanent failure goes to the DLQ at once, anything else
is transient and left to SQS retries."""

from __future__ import annotations


class ConfigurationError(RuntimeError):
    """The function's environment is missing or malformed (a deployment bug, not bad input)."""


class PermanentError(Exception):
    """Retrying cannot help: the message itself is wrong (schema mismatch, corrupt claim check)."""


class ClaimCheckError(PermanentError):
    """The claim-checked body is missing or does not match its recorded size/sha256."""


class MalformedMessageError(PermanentError):
    """A queue message without the attributes the producer always sets."""


# The reason recorded for a record SQS dead-letters together with a failed one ahead of it in its
# FIFO group (received and counted, never attempted).
SKIPPED_BEHIND_FAILURE = "not attempted: an earlier message of its group failed"
