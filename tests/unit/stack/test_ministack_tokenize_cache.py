"""The cached DynamoDB expression tokenizer against MiniStack's own, and the guard around it.

Equivalence: generated expressions (every token kind, odd characters, whitespace) and the webhook
stack's own, tokenized by MiniStack's function and by the cached one, first and repeated calls: the
same token lists. A caller editing its list does not change the next answer. Behaviour: UpdateItem
and TransactWriteItems through MiniStack's real actions give the same items with the patch in place.
"""

from __future__ import annotations

import random
import types

import pytest
from ministack.services import dynamodb

from stack.embedded.ministack.dynamodb_patches import (
    TOKENIZE_CACHE_PATCH,
    apply_tokenize_cache_patch,
    cached_tokenize,
)
from stack.embedded.ministack.patches import PINNED_MINISTACK_VERSION

UPSTREAM = dynamodb._tokenize
PIECES = [
    "SET", "REMOVE", "ADD", "DELETE", "AND", "OR", "NOT", "attribute_not_exists", "if_not_exists",
    "list_append", "size", "BETWEEN", "IN", "#s", "#a_1", ":v", ":one", ":t_2", "latest", "applied_at",
    "a.b", "items[3]", "10", "1.5", "=", "<>", "<", "<=", ">", ">=", "+", "-", "(", ")", ",", "[", "]",
    ".", " ", "  ", "\t", "\n", "$", "é", "!", "_x", "9lives",
]  # fmt: skip
STACK_EXPRESSIONS = [
    "SET #s = :s, received_at = :t",
    "SET latest = :v ADD writes :one",
    "attribute_not_exists(applied_at) AND #s = :r",
    "SET #s = :p, applied_at = :t",
    "attribute_not_exists(id) OR #s IN (:a, :b)",
]


@pytest.fixture(autouse=True)
def _unpatched(monkeypatch):
    if getattr(UPSTREAM, "hookstack_patch", None):
        pytest.fail("ministack.services.dynamodb was patched before these tests imported it")
    monkeypatch.setattr(dynamodb, "_tokenize", UPSTREAM)


def _expressions(rng: random.Random, count: int) -> list[str]:
    return [
        "".join(rng.choice(PIECES) + rng.choice(["", " "]) for _ in range(rng.randrange(0, 14))) for _ in range(count)
    ]


def test_same_tokens_as_ministack_first_and_repeated_calls():
    patched = cached_tokenize(UPSTREAM)
    rng = random.Random(7)
    expressions = STACK_EXPRESSIONS + _expressions(rng, 400)
    for _ in range(3):
        for expr in rng.sample(expressions, len(expressions)):
            assert patched(expr) == UPSTREAM(expr), expr


def test_each_call_gets_its_own_list():
    patched = cached_tokenize(UPSTREAM)
    first = patched(STACK_EXPRESSIONS[0])
    first.clear()
    first.append(("IDENT", "changed"))
    assert patched(STACK_EXPRESSIONS[0]) == UPSTREAM(STACK_EXPRESSIONS[0])


def test_non_strings_behave_as_ministack():
    patched = cached_tokenize(UPSTREAM)
    with pytest.raises(TypeError):
        UPSTREAM(None)
    with pytest.raises(TypeError):
        patched(None)


def _table() -> str:
    name = f"t{random.randrange(10**9)}"
    dynamodb._create_table(
        {
            "TableName": name,
            "BillingMode": "PAY_PER_REQUEST",
            "AttributeDefinitions": [{"AttributeName": "pk", "AttributeType": "S"}],
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}],
        }
    )
    return name


def _writes(table: str) -> list:
    answers = []
    for i in range(6):
        answers.append(
            dynamodb._update_item(
                {
                    "TableName": table,
                    "Key": {"pk": {"S": f"evt{i % 3}"}},
                    "UpdateExpression": "SET #s = :s, received_at = :t ADD writes :one",
                    "ExpressionAttributeNames": {"#s": "status"},
                    "ExpressionAttributeValues": {":s": {"S": "RECEIVED"}, ":t": {"N": str(i)}, ":one": {"N": "1"}},
                    "ReturnValues": "ALL_NEW",
                }
            )
        )
        answers.append(
            dynamodb._transact_write_items(
                {
                    "TransactItems": [
                        {
                            "Update": {
                                "TableName": table,
                                "Key": {"pk": {"S": f"evt{i % 3}"}},
                                "UpdateExpression": "SET #s = :p, applied_at = :t",
                                "ConditionExpression": "attribute_not_exists(applied_at) AND #s = :r",
                                "ExpressionAttributeNames": {"#s": "status"},
                                "ExpressionAttributeValues": {
                                    ":p": {"S": "PROCESSED"},
                                    ":t": {"N": str(i)},
                                    ":r": {"S": "RECEIVED"},
                                },
                            }
                        }
                    ]
                }
            )
        )
    items = dynamodb._scan({"TableName": table})
    return [answers, items]


def test_writes_through_ministack_actions_are_the_same(monkeypatch):
    unpatched = _writes(_table())
    monkeypatch.setattr(dynamodb, "_tokenize", cached_tokenize(UPSTREAM))
    assert _writes(_table()) == unpatched


def test_guard_applies_once_on_the_pinned_release():
    module = types.SimpleNamespace(__name__="ministack.services.dynamodb", _tokenize=UPSTREAM)
    outcome = apply_tokenize_cache_patch(module, PINNED_MINISTACK_VERSION)  # type: ignore[arg-type]
    assert outcome.applied, outcome.detail
    assert module._tokenize.hookstack_patch == TOKENIZE_CACHE_PATCH
    assert apply_tokenize_cache_patch(module, PINNED_MINISTACK_VERSION).detail == "already in place"  # type: ignore[arg-type]


def test_guard_refuses_another_release_or_source():
    module = types.SimpleNamespace(__name__="ministack.services.dynamodb", _tokenize=UPSTREAM)
    assert not apply_tokenize_cache_patch(module, "1.5.34").applied  # type: ignore[arg-type]

    def _tokenize(expr):  # another source
        return []

    changed = types.SimpleNamespace(__name__="ministack.services.dynamodb", _tokenize=_tokenize)
    outcome = apply_tokenize_cache_patch(changed, PINNED_MINISTACK_VERSION)  # type: ignore[arg-type]
    assert not outcome.applied and "not the source" in outcome.detail
