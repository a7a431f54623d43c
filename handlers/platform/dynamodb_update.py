"""Builds DynamoDB UpdateItem expressions with every attribute name and value as a placeholder
(``status``, ``group`` and friends are DynamoDB reserved words)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def serialize(value: Any) -> dict[str, Any]:
    return _serializer.serialize(value)


def deserialize_item(item: Mapping[str, Any]) -> dict[str, Any]:
    return {name: _deserializer.deserialize(value) for name, value in item.items()}


@dataclass
class UpdateBuilder:
    """``set``: SET a = :v; ``set_if_absent``: SET a = if_not_exists(a, :v); ``add``: ADD a :v;
    ``remove``: REMOVE a. ``condition`` may use ``#name`` / ``:value`` placeholders made by
    :meth:`name` and :meth:`value`."""

    sets: dict[str, Any] = field(default_factory=dict)
    sets_if_absent: dict[str, Any] = field(default_factory=dict)
    adds: dict[str, Any] = field(default_factory=dict)
    removes: list[str] = field(default_factory=list)
    condition: str | None = None
    _names: dict[str, str] = field(default_factory=dict)
    _values: dict[str, Any] = field(default_factory=dict)

    def name(self, attribute: str) -> str:
        placeholder = f"#{attribute}"
        self._names[placeholder] = attribute
        return placeholder

    def value(self, label: str, value: Any) -> str:
        placeholder = f":{label}"
        self._values[placeholder] = serialize(value)
        return placeholder

    def kwargs(self) -> dict[str, Any]:
        clauses = []
        assignments = [f"{self.name(a)} = {self.value(a, v)}" for a, v in self.sets.items()]
        assignments += [
            f"{self.name(a)} = if_not_exists({self.name(a)}, {self.value(a, v)})"
            for a, v in self.sets_if_absent.items()
        ]
        if assignments:
            clauses.append("SET " + ", ".join(assignments))
        if self.adds:
            clauses.append(
                "ADD " + ", ".join(f"{self.name(a)} {self.value('add_' + a, v)}" for a, v in self.adds.items())
            )
        if self.removes:
            clauses.append("REMOVE " + ", ".join(self.name(a) for a in self.removes))
        request: dict[str, Any] = {
            "UpdateExpression": " ".join(clauses),
            "ExpressionAttributeNames": dict(self._names),
        }
        if self.condition:
            request["ConditionExpression"] = self.condition
        if self._values:
            request["ExpressionAttributeValues"] = dict(self._values)
        return request


def is_conditional_check_failure(error: Exception) -> bool:
    response = getattr(error, "response", None) or {}
    return response.get("Error", {}).get("Code") == "ConditionalCheckFailedException"


# --- transactions ---------------------------------------------------------------------------------

CONDITIONAL_CHECK_FAILED = "ConditionalCheckFailed"
NO_REASON = "None"


def transaction_update(
    table: str, key: str, update: UpdateBuilder, *, old_item_on_failure: bool = False
) -> dict[str, Any]:
    """One ``Update`` member of a ``TransactWriteItems`` request (hash key ``id``). With
    ``old_item_on_failure`` a failed condition returns the stored item in its cancellation reason."""
    request: dict[str, Any] = {"TableName": table, "Key": {"id": serialize(key)}, **update.kwargs()}
    if old_item_on_failure:
        request["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    return {"Update": request}


def cancellation_reasons(error: Exception) -> list[dict[str, Any]] | None:
    """The per-member reasons of a cancelled transaction, in request order (``Code`` is ``None``
    for a member that did not cause it); None when ``error`` is not a cancelled transaction."""
    response = getattr(error, "response", None) or {}
    if response.get("Error", {}).get("Code") != "TransactionCanceledException":
        return None
    return [dict(reason) for reason in response.get("CancellationReasons") or []]
