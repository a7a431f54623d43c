"""One AWS API call from command-line words, as the AWS CLI takes them: ``sqs get-queue-attributes
--QueueUrl URL --AttributeNames All`` → ``client("sqs").get_queue_attributes(QueueUrl=URL,
AttributeNames=["All"])``, and the answer as JSON.

The words are read against botocore's model of the operation, so a value takes its parameter's
type: numbers and booleans are converted, a list takes repeated flags (or several values after one
flag, or a JSON array), a map or structure takes a JSON object. The names, the parameters and their
types are checked before anything is sent; what botocore or the service refuses is one line.
"""

from __future__ import annotations

import base64
import datetime
import difflib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import botocore.exceptions
import botocore.session
from botocore import xform_name
from botocore.model import OperationModel, ServiceModel, Shape

from stack.errors import HookstackError, UsageError

# A streamed answer (S3 GetObject's Body) is read whole into the JSON, up to this size.
MAX_BODY_BYTES = 16 * 1024 * 1024
_NUMBER_TYPES: dict[str, Callable[[str], int | float]] = {
    "integer": int,
    "long": int,
    "float": float,
    "double": float,
}
_BOOLEANS = {"true": True, "false": False}


class AwsCallFailed(HookstackError):
    """The service (or botocore on its behalf) refused or failed the call."""


@dataclass(frozen=True)
class AwsCall:
    """A call checked against the service's model: ready to send."""

    service: str  # boto3's name: "sqs", "dynamodb"
    operation: str  # the API's name: "GetQueueAttributes"
    method: str  # the client's method: "get_queue_attributes"
    params: dict[str, Any]

    @property
    def title(self) -> str:
        return f"{self.service} {self.operation}"


def kebab_case(operation: str) -> str:
    """``GetQueueAttributes`` → ``get-queue-attributes`` (the AWS CLI's spelling)."""
    return xform_name(operation, "-")


def _close(word: str, choices: Sequence[str]) -> str:
    matches = difflib.get_close_matches(word, choices, n=3, cutoff=0.6)
    return f" (did you mean {', '.join(matches)}?)" if matches else ""


def service_model(service: str) -> ServiceModel:
    """The model of a service boto3 knows, by boto3's name; a usage error naming close matches."""
    session = botocore.session.get_session()
    known = session.get_available_services()
    if service not in known:
        raise UsageError(f"unknown AWS service {service!r}{_close(service, known)}")
    return session.get_service_model(service)


def operation_model(model: ServiceModel, operation: str) -> OperationModel:
    """The operation in the CLI's kebab-case, boto3's snake_case or the API's own name."""
    by_kebab = {kebab_case(name): name for name in model.operation_names}
    wanted = by_kebab.get(operation.replace("_", "-").lower()) or (
        operation if operation in model.operation_names else None
    )
    if wanted is None:
        service = model.service_name
        raise UsageError(f"{service} has no operation {operation!r}{_close(operation, sorted(by_kebab))}")
    return model.operation_model(wanted)


def _scalar(shape: Shape, name: str, word: str) -> Any:
    if shape.type_name in _NUMBER_TYPES:
        try:
            return _NUMBER_TYPES[shape.type_name](word)
        except ValueError:
            raise UsageError(f"--{name}: {word!r} is not a number ({shape.type_name})") from None
    if shape.type_name == "boolean":
        if word.lower() not in _BOOLEANS:
            raise UsageError(f"--{name}: {word!r} is not true or false")
        return _BOOLEANS[word.lower()]
    if shape.type_name in ("structure", "map", "list"):
        return _json_value(name, word)
    return word  # strings, blobs and timestamps: botocore takes them as text


def _json_value(name: str, word: str) -> Any:
    try:
        return json.loads(word)
    except json.JSONDecodeError as exc:
        raise UsageError(f"--{name}: not valid JSON ({exc.msg} at character {exc.pos})") from None


def _value(shape: Shape, name: str, words: list[str]) -> Any:
    if shape.type_name == "list":
        if len(words) == 1 and words[0].lstrip().startswith("["):
            return _json_value(name, words[0])
        member = shape.member  # a ListShape
        return [_scalar(member, name, word) for word in words]
    if shape.type_name in ("structure", "map"):
        if len(words) != 1:
            raise UsageError(f"--{name} takes one JSON object ({len(words)} values given)")
        value = _json_value(name, words[0])
        if not isinstance(value, dict):
            raise UsageError(f"--{name} takes a JSON object")
        return value
    if len(words) != 1:
        raise UsageError(f"--{name} takes one value ({len(words)} given)")
    return _scalar(shape, name, words[0])


def _flag_words(words: Sequence[str]) -> list[tuple[str, list[str]]]:
    """``--Name v1 v2 --Other=v`` → ``[("Name", ["v1", "v2"]), ("Other", ["v"])]``, in order."""
    flags: list[tuple[str, list[str]]] = []
    for word in words:
        if word.startswith("--") and len(word) > 2:
            name, equals, value = word[2:].partition("=")
            flags.append((name, [value] if equals else []))
        elif not flags:
            raise UsageError(f"unexpected {word!r}: parameters are given as --Name value")
        else:
            flags[-1][1].append(word)
    return flags


def parse_parameters(operation: OperationModel, words: Sequence[str], json_input: str | None = None) -> dict[str, Any]:
    """The operation's parameters from ``--Name value`` words, over ``json_input`` (a JSON object,
    as the AWS CLI's --cli-input-json): a flag replaces the same key of the JSON. A flag given
    again adds to a list parameter, and is a usage error for any other."""
    params: dict[str, Any] = {}
    if json_input is not None:
        base = _json_value("json-input", json_input)
        if not isinstance(base, dict):
            raise UsageError("--json-input takes a JSON object")
        params.update(base)
    shape = operation.input_shape
    members: dict[str, Shape] = dict(shape.members) if shape is not None else {}
    collected: dict[str, list[str]] = {}
    for name, values in _flag_words(words):
        if name not in members:
            accepted = ", ".join(f"--{m}" for m in members) or "none"
            close = _close(f"--{name}", [f"--{m}" for m in members])
            raise UsageError(f"{operation.name} has no parameter --{name}{close or f' (it takes: {accepted})'}")
        if not values:
            raise UsageError(f"--{name} needs a value")
        if name in collected and members[name].type_name != "list":
            raise UsageError(f"--{name} given twice (only a list parameter repeats)")
        collected.setdefault(name, []).extend(values)
    params.update({name: _value(members[name], name, values) for name, values in collected.items()})
    return params


def parse_call(service: str, operation: str, words: Sequence[str], json_input: str | None = None) -> AwsCall:
    """The call the words name, checked against botocore's model (no client, no network)."""
    model = service_model(service)
    op = operation_model(model, operation)
    return AwsCall(service, op.name, xform_name(op.name), parse_parameters(op, words, json_input))


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def send(client: Any, call: AwsCall) -> dict[str, Any]:
    """Make the call; the answer without its ``ResponseMetadata`` (as the AWS CLI prints it)."""
    method = getattr(client, call.method)
    try:
        response = method(**call.params)
    except botocore.exceptions.ParamValidationError as exc:
        # botocore lists each problem on a line of its own after a heading.
        problems = str(exc).split("\n")[1:] or [str(exc)]
        raise UsageError(f"{call.title}: {'; '.join(_one_line(p) for p in problems)}") from None
    except botocore.exceptions.ClientError as exc:
        error = exc.response.get("Error", {})
        code, message = error.get("Code", "error"), _one_line(error.get("Message", ""))
        raise AwsCallFailed(f"{call.title}: {code}: {message}".rstrip(": ")) from None
    response.pop("ResponseMetadata", None)
    return response


def _jsonable(value: Any) -> Any:
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    if hasattr(value, "read"):  # a streamed body (botocore's StreamingBody)
        data = value.read(MAX_BODY_BYTES + 1)
        value.close()
        if len(data) > MAX_BODY_BYTES:
            raise HookstackError(f"the answer's body is larger than {MAX_BODY_BYTES // (1024 * 1024)} MiB")
        return base64.b64encode(data).decode("ascii")
    raise TypeError(f"{type(value).__name__} is not JSON")


def response_json(response: dict[str, Any]) -> str:
    """The answer as indented JSON: datetimes as ISO 8601 strings, bytes and bodies as base64."""
    return json.dumps(response, indent=2, default=_jsonable)
