"""Run-time fault injection (handlers/faults.py) and its hooks in the producer and the worker.

No AWS: the parameter source is a fake Powertools provider; the worker tests reuse the moto rig
of test_worker."""

from __future__ import annotations

import json
import logging

import pytest
from botocore.exceptions import ClientError

from handlers.faults import (
    CRASH_EXIT_CODE,
    NO_FAULTS,
    Fault,
    FaultConfig,
    FaultContext,
    FaultInjector,
    ParameterFaults,
    PartnerCallError,
)

NOW = 1_800_000_000.0
LATER = int(NOW) + 600


def fault(**values) -> Fault:
    base = {"id": "f1", "function": "worker", "point": "write", "action": "error", "expires_at": LATER}
    return Fault(**{**base, **values})


def config_json(*faults: Fault, applied_log_until: int = 0) -> str:
    return FaultConfig(faults=faults, applied_log_until=applied_log_until).model_dump_json()


class FakeProvider:
    """Powertools' SSMProvider.get as the handlers use it."""

    def __init__(self, value=None, error: Exception | None = None):
        self.value = value
        self.error = error
        self.calls: list[dict] = []

    def get(self, name, max_age=None, **_):
        self.calls.append({"name": name, "max_age": max_age})
        if self.error is not None:
            raise self.error
        return self.value


class Clock:
    def __init__(self, now: float = NOW):
        self.now = now

    def __call__(self) -> float:
        return self.now


def missing_parameter_error() -> Exception:
    from aws_lambda_powertools.utilities.parameters.exceptions import GetParameterError

    try:
        try:
            raise ClientError({"Error": {"Code": "ParameterNotFound", "Message": "no"}}, "GetParameter")
        except ClientError as inner:
            raise GetParameterError(str(inner))  # noqa: B904 - as Powertools raises it: chained implicitly
    except GetParameterError as wrapped:
        return wrapped


def injector(*faults: Fault, applied_log=None, rng=lambda: 0.0, clock=None, applied_log_until: int = 0):
    provider = FakeProvider(config_json(*faults, applied_log_until=applied_log_until))
    clock = clock or Clock()
    slept: list[float] = []
    exits: list[int] = []

    def exit_(code: int) -> None:
        exits.append(code)

    source = ParameterFaults("/hookstack/dev/chaos/faults", 2, lambda: provider, clock=clock)
    hooks = FaultInjector(source, applied_log=applied_log, rng=rng, sleep=slept.append, exit=exit_, clock=clock)
    return hooks, slept, exits


def ctx(**values) -> FaultContext:
    base = {
        "function": "worker",
        "tenant": "demo",
        "provider": "shopify",
        "topic": "orders/create",
        "group": "demo:shop-a.myshopify.com",
        "event_id": "evt_1",
        "attempt": 1,
    }
    return FaultContext(**{**base, **values})


# --- the configuration model ------------------------------------------------------------------


def test_config_round_trips_and_every_fault_needs_an_expiry():
    text = config_json(fault(), applied_log_until=LATER)
    assert FaultConfig.model_validate_json(text).faults[0].id == "f1"
    with pytest.raises(ValueError, match="expires_at"):
        FaultConfig.model_validate_json(
            json.dumps({"faults": [{"id": "x", "function": "worker", "point": "write", "action": "error"}]})
        )


@pytest.mark.parametrize(
    "values, message",
    [
        ({"function": "producer", "point": "write"}, "no hook point"),
        ({"point": "write", "action": "crash"}, "supports"),
        ({"function": "producer", "point": "enqueue", "action": "throttle"}, "supports"),
        ({"action": "latency"}, "latency_ms"),
        ({"action": "throttle", "error_code": "SlowDown"}, "error_code"),
        ({"unknown": 1}, "Extra inputs"),
        ({"id": "has space"}, "pattern"),
    ],
)
def test_inconsistent_faults_are_rejected(values, message):
    with pytest.raises(ValueError, match=message):
        fault(**values)


def test_duplicate_fault_ids_are_rejected():
    with pytest.raises(ValueError, match="duplicate"):
        FaultConfig(faults=(fault(), fault()))


def test_expired_faults_are_inactive():
    config = FaultConfig(faults=(fault(expires_at=int(NOW) - 1), fault(id="f2")))
    assert [f.id for f in config.active(NOW)] == ["f2"]


# --- reading the parameter ----------------------------------------------------------------------


def test_missing_parameter_means_no_faults_without_an_error_line(caplog):
    provider = FakeProvider(error=missing_parameter_error())
    clock = Clock()
    source = ParameterFaults("/p", 2, lambda: provider, clock=clock)
    with caplog.at_level(logging.ERROR):
        assert source.current() is NO_FAULTS
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert source.current() is NO_FAULTS
    assert len(provider.calls) == 1  # a missing parameter is remembered for the cache period
    clock.now += 2.1
    source.current()
    assert len(provider.calls) == 2


@pytest.mark.parametrize("raw", ["not json", json.dumps({"faults": [{"id": "x"}]}), json.dumps([1, 2])])
def test_malformed_parameter_means_no_faults_and_one_error_line(raw, caplog):
    provider = FakeProvider(raw)
    source = ParameterFaults("/p", 2, lambda: provider, clock=Clock())
    with caplog.at_level(logging.ERROR):
        assert source.current() is NO_FAULTS
        assert source.current() is NO_FAULTS
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "malformed" in errors[0].getMessage()


def test_unreadable_parameter_means_no_faults_and_an_error_line(caplog):
    provider = FakeProvider(error=ConnectionError("ssm unreachable"))
    source = ParameterFaults("/p", 2, lambda: provider, clock=Clock())
    with caplog.at_level(logging.ERROR):
        assert source.current() is NO_FAULTS
    assert any("unreadable" in r.getMessage() for r in caplog.records)


def test_value_is_read_through_powertools_with_the_cache_age_and_changes_are_picked_up():
    provider = FakeProvider(config_json(fault()))
    source = ParameterFaults("/hookstack/dev/chaos/faults", 2, lambda: provider, clock=Clock())
    assert [f.id for f in source.current().faults] == ["f1"]
    assert provider.calls[0] == {"name": "/hookstack/dev/chaos/faults", "max_age": 2}
    provider.value = config_json(fault(id="f2"))
    assert [f.id for f in source.current().faults] == ["f2"]


def test_from_env_without_a_parameter_is_a_no_op():
    hooks = FaultInjector.from_env(env={})
    assert hooks.before_write(ctx()) is False
    hooks.before_enqueue(ctx(function="producer"))
    hooks.partner_call(ctx())


# --- scope --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "scope, context, fires",
    [
        ({}, {}, True),
        ({"groups": ("demo:shop-a*",)}, {}, True),
        ({"groups": ("demo:shop-b*",)}, {}, False),
        ({"providers": ("stripe",)}, {}, False),
        ({"topics": ("orders/*",)}, {}, True),
        ({"topics": ("products/*",)}, {}, False),
        ({"tenants": ("other",)}, {}, False),
        ({"max_attempt": 1}, {"attempt": 2}, False),
        ({"max_attempt": 2}, {"attempt": 2}, True),
        ({"function": "producer", "point": "enqueue"}, {}, False),  # another function's fault
    ],
)
def test_scope(scope, context, fires):
    hooks, _, _ = injector(fault(**scope))
    if fires:
        with pytest.raises(ClientError):
            hooks.before_write(ctx(**context))
    else:
        assert hooks.before_write(ctx(**context)) is False


def test_percentage_samples_each_call():
    draws = iter([0.10, 0.30, 0.24])
    hooks, _, _ = injector(fault(percentage=25), rng=lambda: next(draws))
    with pytest.raises(ClientError):
        hooks.before_write(ctx())  # 10 < 25
    assert hooks.before_write(ctx()) is False  # 30 >= 25
    with pytest.raises(ClientError):
        hooks.before_write(ctx())


def test_a_fault_turns_itself_off_at_its_expiry():
    clock = Clock()
    hooks, _, _ = injector(fault(expires_at=int(NOW) + 10), clock=clock)
    with pytest.raises(ClientError):
        hooks.before_write(ctx())
    clock.now = NOW + 10
    assert hooks.before_write(ctx()) is False


# --- actions ------------------------------------------------------------------------------------


@pytest.mark.parametrize("code", ["ProvisionedThroughputExceededException", "ThrottlingException"])
def test_throttle_raises_what_dynamodb_raises(code):
    hooks, _, _ = injector(fault(action="throttle", error_code=code))
    with pytest.raises(ClientError) as raised:
        hooks.before_write(ctx())
    assert raised.value.response["Error"]["Code"] == code
    assert raised.value.operation_name == "UpdateItem"
    assert "injected fault f1" in str(raised.value)


def test_write_error_and_latency_and_skip():
    hooks, slept, _ = injector(fault(action="latency", latency_ms=1500), fault(id="f2", action="skip"))
    assert hooks.before_write(ctx()) is True  # sabotage: skip the write
    assert slept == [1.5]
    hooks, _, _ = injector(fault(action="error"))
    with pytest.raises(ClientError, match="InternalServerError"):
        hooks.before_write(ctx())


def test_partner_5xx_and_timeout_raise_what_a_real_call_would():
    hooks, _, _ = injector(fault(point="partner", action="error", status_code=502))
    with pytest.raises(PartnerCallError) as raised:
        hooks.partner_call(ctx())
    assert raised.value.status_code == 502 and "HTTP 502" in str(raised.value)
    hooks, slept, _ = injector(fault(point="partner", action="timeout", latency_ms=300))
    with pytest.raises(TimeoutError, match="injected fault f1"):
        hooks.partner_call(ctx())
    assert slept == [0.3]


def test_enqueue_error_is_an_sqs_client_error():
    hooks, _, _ = injector(fault(function="producer", point="enqueue", action="error"))
    with pytest.raises(ClientError, match="ServiceUnavailable"):
        hooks.before_enqueue(ctx(function="producer"))


def test_crash_exits_after_the_nth_write_of_one_invocation():
    hooks, _, exits = injector(fault(point="after_write", action="crash", after_writes=2))
    hooks.begin_invocation()
    hooks.after_write(ctx(event_id="a"), applied=True)
    hooks.after_write(ctx(event_id="b"), applied=False)  # already applied: not a write
    assert exits == []
    hooks.after_write(ctx(event_id="c"), applied=True)
    assert exits == [CRASH_EXIT_CODE]
    exits.clear()
    hooks.begin_invocation()  # a new batch counts from zero
    hooks.after_write(ctx(event_id="d"), applied=True)
    assert exits == []


def test_applied_log_only_while_switched_on_and_never_fails_the_record():
    calls: list[dict] = []
    clock = Clock()
    hooks, _, _ = injector(applied_log=lambda **kw: calls.append(kw), clock=clock, applied_log_until=int(NOW) + 5)
    hooks.after_write(ctx(generation=1), applied=True)
    hooks.after_write(ctx(event_id="evt_2"), applied=False)
    assert calls == [
        {
            "tenant": "demo",
            "group": "demo:shop-a.myshopify.com",
            "event_id": "evt_1",
            "generation": 1,
            "at_ms": int(NOW * 1000),
        }
    ]
    clock.now = NOW + 6
    hooks.after_write(ctx(), applied=True)
    assert len(calls) == 1

    def broken(**_):
        raise ConnectionError("table unreachable")

    hooks, _, _ = injector(applied_log=broken, applied_log_until=LATER)
    hooks.after_write(ctx(), applied=True)  # logged, not raised


# --- the hooks in the handlers ------------------------------------------------------------------


def test_producer_answers_503_never_202_when_enqueue_fails(monkeypatch):
    from tests.helpers.producer_rig import Rig, order

    rig = Rig()
    hooks, slept, _ = injector(
        fault(function="producer", point="enqueue", action="error"),
        fault(id="slow", function="producer", point="enqueue", action="latency", latency_ms=200),
    )
    rig.producer._faults = hooks
    status, body = rig.post(order())
    assert status == 503 and "retry" in body["message"]
    assert rig.sqs.sent == [] and rig.status.received == []
    assert slept == [0.2]
    rig.producer._faults = FaultInjector()
    status, _ = rig.post(order())
    assert status == 202 and len(rig.sqs.sent) == 1


def test_worker_throttled_write_is_retried_then_applied_once(aws):
    from tests.helpers.worker_rig import (
        Context,
        eid_of,
        make_worker,
        order_body,
        projection_items,
        record,
        status_of,
    )

    worker, projections = make_worker(aws)
    hooks, _, _ = injector(fault(action="throttle", max_attempt=1))
    worker._faults = hooks
    rec = record(order_body())
    response = worker.handle({"Records": [rec]}, Context())
    assert response == {"batchItemFailures": [{"itemIdentifier": rec["messageId"]}]}
    assert status_of(aws, eid_of(rec))["status"] == "PROCESSING"
    assert projections.calls == []  # the write never reached the table
    retry = dict(rec, attributes={**rec["attributes"], "ApproximateReceiveCount": "2"})
    assert worker.handle({"Records": [retry]}, Context()) == {"batchItemFailures": []}
    [item] = projection_items(aws)
    assert item["writes"] == 1


def test_worker_records_the_fault_in_the_reason_on_the_last_attempt(aws):
    from tests.helpers.worker_rig import Context, eid_of, make_worker, order_body, record, status_of

    worker, _ = make_worker(aws, max_receive_count=3)
    worker._faults, _, _ = injector(fault(point="partner", action="error", status_code=503))
    rec = record(order_body(), receive_count=3)
    worker.handle({"Records": [rec]}, Context())
    status = status_of(aws, eid_of(rec))
    assert status["status"] == "DEAD_LETTERED" and status["dead_letter_kind"] == "transient"
    assert "PartnerCallError" in status["reason"] and "injected fault f1" in status["reason"]


class DeadlineContext:
    """A Lambda context whose invocation deadline is 1 ms away."""

    function_name = "hookstack-dev-worker"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:000000000000:function:hookstack-dev-worker"
    aws_request_id = "req-crash"

    def get_remaining_time_in_millis(self) -> int:
        return 1


class Crashed(BaseException):
    """Stands in for os._exit: nothing after it runs (not even Powertools' cleanup)."""


def test_worker_crash_mid_batch_then_redelivery_writes_nothing_twice(aws):
    from handlers.stores.projections import ProjectionStore
    from handlers.stores.status_store import StatusStore
    from tests.helpers.worker_rig import (
        Context,
        eid_of,
        make_worker,
        order_body,
        projection_items,
        record,
        status_of,
    )

    worker, _ = make_worker(aws)
    store = ProjectionStore(aws.dynamodb, "projections")

    def exit_(code):
        raise Crashed(code)

    provider = FakeProvider(
        config_json(fault(point="after_write", action="crash", after_writes=2, max_attempt=1), applied_log_until=LATER)
    )
    worker._faults = FaultInjector(
        ParameterFaults("/p", 2, lambda: provider, clock=Clock()),
        applied_log=store.append_applied_log,
        exit=exit_,
        clock=Clock(),
    )
    batch = [record(order_body(i), group="demo:shop-a") for i in range(1, 5)]
    with pytest.raises(Crashed):
        worker.handle({"Records": batch}, DeadlineContext())
    assert status_of(aws, eid_of(batch[0]))["status"] == "PROCESSED"
    # Written together with its status in one transaction, then the process died.
    assert status_of(aws, eid_of(batch[1]))["status"] == "PROCESSED"
    assert StatusStore(aws.dynamodb, "events").get(eid_of(batch[2])) is None  # never attempted
    # SQS redelivers the whole batch after the visibility timeout.
    redelivered = [dict(r, attributes={**r["attributes"], "ApproximateReceiveCount": "2"}) for r in batch]
    assert worker.handle({"Records": redelivered}, Context()) == {"batchItemFailures": []}
    assert all(status_of(aws, eid_of(r))["status"] == "PROCESSED" for r in batch)
    items = [i for i in projection_items(aws) if i.get("kind") != "applied-log"]
    assert len(items) == 4 and all(i["writes"] == 1 for i in items)
    [log] = [i for i in projection_items(aws) if i.get("kind") == "applied-log"]
    assert [e["event_id"] for e in log["entries"]] == [eid_of(r) for r in batch]  # each once, in order
