"""The fidelity stack's pure parts: its template, its functions' code, the batch-log analysis of the
mapping checks, and the HTTP checks against local servers that answer as AWS does, or do not."""

from __future__ import annotations

import json
import sys
import threading
import types
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest

from stack.fidelity import api_limits, authorizer, event_source_mapping
from stack.fidelity import fidelity_stack as fs
from stack.fidelity.behaviour import Differs, Verdict
from stack.fidelity.event_source_mapping import (
    Batch,
    Delivery,
    check_group_order,
    check_redelivered_after_failure,
    overlapping_batches,
)
from stack.fidelity.probe import Probe
from stack.fidelity.suite import run_suite

PREFIX = "hsfid-test-1"


def _template() -> dict[str, Any]:
    return fs.fidelity_template(PREFIX)["Resources"]


def _of_type(kind: str) -> dict[str, dict]:
    return {k: v for k, v in _template().items() if v["Type"] == kind}


def test_template_names_and_limits():
    resources = _template()
    names = [
        v["Properties"][key]
        for v in resources.values()
        for key in ("FunctionName", "QueueName", "Name")
        if isinstance(v.get("Properties", {}).get(key), str)
    ]
    assert names and all(n.startswith(PREFIX) for n in names)
    [mapping] = _of_type("AWS::Lambda::EventSourceMapping").values()
    assert mapping["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert 2 <= mapping["Properties"]["ScalingConfig"]["MaximumConcurrency"] <= 1000
    # Lambda refuses a mapping whose queue hides messages for less than the function may run.
    recorder = resources["RecorderFunction"]["Properties"]
    assert resources["BatchQueue"]["Properties"]["VisibilityTimeout"] >= recorder["Timeout"]
    slow = _of_type("AWS::ApiGateway::Method")["SlowGetMethod"]["Properties"]["Integration"]
    assert 50 <= slow["TimeoutInMillis"] < fs.SLOW_FUNCTION_SLEEP_S * 1000
    assert fs.SLOW_FUNCTION_SLEEP_S < resources["SlowFunction"]["Properties"]["Timeout"]
    [auth] = _of_type("AWS::ApiGateway::Authorizer").values()
    assert 0 < auth["Properties"]["AuthorizerResultTtlInSeconds"] <= 3600
    assert auth["Properties"]["IdentitySource"] == f"method.request.header.{fs.IDENTITY_HEADER}"
    assert sorted(resources["Deployment"]["DependsOn"]) == sorted(_of_type("AWS::ApiGateway::Method"))
    json.dumps(fs.fidelity_template(PREFIX))


def _load(source: str, **globals_: Any) -> types.ModuleType:
    module = types.ModuleType("fidelity_function")
    module.__dict__.update(globals_)
    exec(compile(source, "index.py", "exec"), module.__dict__)  # noqa: S102 - the stack's own inline code
    return module


def test_authorizer_function_allows_denies_and_gives_a_call_id():
    handler = _load(fs.AUTHORIZER_SOURCE).handler
    arn = "arn:aws:execute-api:us-east-1:000000000000:api/fidelity/GET/echo"

    def decide(token: str | None) -> dict:
        return handler({"methodArn": arn, "headers": {fs.IDENTITY_HEADER: token} if token else {}}, None)

    allowed, denied = decide("allow-x"), decide("deny-x")
    assert allowed["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    assert allowed["policyDocument"]["Statement"][0]["Resource"] == "arn:aws:execute-api:us-east-1:000000000000:api/*"
    assert denied["policyDocument"]["Statement"][0]["Effect"] == "Deny"
    assert decide("allow-x")["context"]["callId"] != allowed["context"]["callId"]
    # Called without the identity source it lets the request through: the check then sees the call.
    assert decide(None)["policyDocument"]["Statement"][0]["Effect"] == "Allow"


def _sqs_record(message_id: str, body: str, group: str, receive_count: int) -> dict:
    attributes = {"MessageGroupId": group, "ApproximateReceiveCount": str(receive_count)}
    return {"messageId": message_id, "body": body, "attributes": attributes}


class _LogQueue:
    def __init__(self) -> None:
        self.sent: list[dict] = []

    def send_message(self, QueueUrl: str, MessageBody: str) -> None:  # noqa: N803 - boto3's names
        self.sent.append(json.loads(MessageBody))


@pytest.fixture
def recorder(monkeypatch) -> Iterator[tuple[Any, _LogQueue]]:
    monkeypatch.setenv("LOG_QUEUE_URL", "http://queue/log")
    log = _LogQueue()
    # The function's `import boto3` gets a client that keeps what it sends.
    monkeypatch.setitem(sys.modules, "boto3", types.SimpleNamespace(client=lambda service: log))
    module = _load(fs.RECORDER_SOURCE.replace(f"time.sleep({fs.BATCH_HOLD_S})", "time.sleep(0)"))
    yield module.handler, log


def test_recorder_fails_the_record_and_its_later_group_mates_once(recorder):
    handler, log = recorder
    records = [
        _sqs_record("1", "a-m1", "a", 1),
        _sqs_record("2", "a-m2-fail-once", "a", 1),
        _sqs_record("3", "b-m1", "b", 1),
        _sqs_record("4", "a-m3", "a", 1),
    ]
    answer = handler({"Records": records}, None)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "2"}, {"itemIdentifier": "4"}]}
    [entry] = log.sent
    assert [r["body"] for r in entry["records"]] == ["a-m1", "a-m2-fail-once", "b-m1", "a-m3"]
    assert entry["failed"] == ["2", "4"] and entry["started"] <= entry["ended"]
    # Redelivered, it succeeds.
    again = handler({"Records": [_sqs_record("2", "a-m2-fail-once", "a", 2), _sqs_record("4", "a-m3", "a", 2)]}, None)
    assert again == {"batchItemFailures": []}


def test_recorder_raises_on_crash_once_after_logging(recorder):
    handler, log = recorder
    with pytest.raises(RuntimeError, match="crash-once"):
        handler({"Records": [_sqs_record("1", "c-m1-crash-once", "c", 1)]}, None)
    assert log.sent[0]["crashed"] is True
    assert handler({"Records": [_sqs_record("1", "c-m1-crash-once", "c", 2)]}, None) == {"batchItemFailures": []}


# ── the mapping checks' analysis ─────────────────────────────────────────────


def _batch(started: float, ended: float, *records: tuple[str, str, int], failed=(), crashed=False) -> Batch:
    deliveries = tuple(Delivery(f"id-{body}", body, group, count) for body, group, count in records)
    return Batch(started, ended, deliveries, frozenset(f"id-{b}" for b in failed), crashed)


def test_overlap_is_per_group():
    apart = [_batch(0, 1, ("a1", "a", 1)), _batch(1, 2, ("a2", "a", 1)), _batch(0.5, 1.5, ("b1", "b", 1))]
    assert overlapping_batches(apart) == []
    together = [_batch(0, 1, ("a1", "a", 1)), _batch(0.5, 1.5, ("a2", "a", 1))]
    [(group, _, _)] = overlapping_batches(together)
    assert group == "a"


def test_group_order_counts_only_successes():
    batches = [
        _batch(0, 1, ("a1", "a", 1), ("a2", "a", 1), failed=["a2"]),
        _batch(2, 3, ("a2", "a", 2), ("a3", "a", 1)),
    ]
    check_group_order(batches, {"a": ["a1", "a2", "a3"]})
    with pytest.raises(Differs, match="send order"):
        check_group_order(batches, {"a": ["a1", "a3", "a2"]})
    out_of_order = [_batch(0, 1, ("a2", "a", 1)), _batch(2, 3, ("a1", "a", 1))]
    with pytest.raises(Differs, match="send order"):
        check_group_order(out_of_order, {"a": ["a1", "a2"]})


def test_redelivery_rules():
    reported = [
        _batch(0, 1, ("a1", "a", 1), ("a2", "a", 1), failed=["a2"]),
        _batch(2, 3, ("a2", "a", 2)),
    ]
    assert check_redelivered_after_failure(reported, "reported") == 1
    crashed = [_batch(0, 1, ("c1", "c", 1), ("c2", "c", 1), crashed=True), _batch(2, 3, ("c1", "c", 2), ("c2", "c", 2))]
    assert check_redelivered_after_failure(crashed, "raised") == 2
    with pytest.raises(Differs, match="not delivered again"):
        check_redelivered_after_failure(reported[:1], "reported")
    success_redelivered = [_batch(0, 1, ("a1", "a", 1)), _batch(2, 3, ("a1", "a", 2))]
    with pytest.raises(Differs, match="deletes a record that succeeded"):
        check_redelivered_after_failure(success_redelivered, "reported")
    with pytest.raises(Differs, match="not delivered again"):
        check_redelivered_after_failure(crashed[:1], "raised")


# ── HTTP checks against local servers ────────────────────────────────────────


class _FakeApi(BaseHTTPRequestHandler):
    """Answers like API Gateway (``faithful``) or in the ways an emulator could get it wrong."""

    faithful = True

    def log_message(self, *args: Any) -> None:
        pass

    def _answer(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        remaining = length
        while remaining:
            remaining -= len(self.rfile.read(min(remaining, 1 << 20)))
        if self.faithful and length > api_limits.PAYLOAD_LIMIT_BYTES:
            return self._answer(413, {"message": "Request Too Long"})
        self._answer(200, {"authorizer": None})

    def do_GET(self) -> None:
        path = self.path.split("?")[0]
        if path.endswith("/open") and "raise=1" in self.path:
            return self._answer(502 if self.faithful else 500, {"message": "Internal server error"})
        if path.endswith("/slow"):
            return (
                self._answer(504, {"message": "Endpoint request timed out"})
                if self.faithful
                else self._answer(200, "late")
            )
        if path.endswith("/throttled"):
            server = self.server
            server.throttled_calls += 1  # type: ignore[attr-defined]
            if self.faithful and server.throttled_calls > 1:  # type: ignore[attr-defined]
                return self._answer(429, {"message": "Too Many Requests"})
            return self._answer(200, {})
        token = self.headers.get(fs.IDENTITY_HEADER)
        if self.faithful and not token:
            return self._answer(401, {"message": "Unauthorized"})
        if token and token.startswith("deny-"):
            body = authorizer.EXPLICIT_DENY_BODY if self.faithful else {"message": "Forbidden"}
            return self._answer(403, body)
        cache = self.server.cache  # type: ignore[attr-defined]
        call_id = cache.setdefault(token, uuid.uuid4().hex) if self.faithful else uuid.uuid4().hex
        self._answer(200, {"authorizer": {"callId": call_id, "principalId": "fidelity"}})


def _serve(faithful: bool) -> tuple[ThreadingHTTPServer, str]:
    handler = type("Handler", (_FakeApi,), {"faithful": faithful})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.cache = {}  # type: ignore[attr-defined]
    server.throttled_calls = 0  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/fidelity"


def _probe_on(api_url: str) -> Probe:
    session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
    probe = Probe(session, "http://127.0.0.1:9", "embedded")
    closed: list[str] = []
    stack = fs.FidelityStack("fake", api_url, "", "", [lambda: closed.append("closed")])
    probe.shared("fidelity-stack", lambda: stack)
    return probe


HTTP_BEHAVIOURS = [*authorizer.BEHAVIOURS, *api_limits.BEHAVIOURS]


@pytest.mark.parametrize("faithful", [True, False], ids=["answers-as-aws", "answers-wrongly"])
def test_http_checks_hold_or_differ(faithful):
    server, url = _serve(faithful)
    try:
        report = run_suite(_probe_on(url), HTTP_BEHAVIOURS)
    finally:
        server.shutdown()
        server.server_close()
    verdicts = {o.behaviour.id: o.verdict for o in report.outcomes}
    want = Verdict.HOLDS if faithful else Verdict.DIFFERS
    assert verdicts == {b.id: want for b in HTTP_BEHAVIOURS}, [o.as_json() for o in report.outcomes]
    assert report.left_behind == ()


def test_a_stack_that_cannot_be_deployed_errors_every_check_once():
    session = boto3.session.Session(aws_access_key_id="test", aws_secret_access_key="test", region_name="us-east-1")
    probe = Probe(session, "http://127.0.0.1:9", "embedded")
    attempts: list[int] = []

    def make() -> fs.FidelityStack:
        attempts.append(1)
        raise fs.FidelityStackError("fidelity stack hsfid-x-stack could not be deployed: nothing answers")

    with pytest.raises(fs.FidelityStackError):
        probe.shared("fidelity-stack", make)
    report = run_suite(probe, [*authorizer.BEHAVIOURS[:2], event_source_mapping.BEHAVIOURS[0]])
    assert attempts == [1]
    assert all(o.verdict is Verdict.ERROR and "could not be deployed" in o.how for o in report.outcomes)
