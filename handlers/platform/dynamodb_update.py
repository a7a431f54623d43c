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
