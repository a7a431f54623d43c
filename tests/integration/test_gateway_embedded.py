"""The embedded gateway against a real MiniStack: a toy REST API built with boto3, served by
``stack.embedded.gateway.launch``.

One MiniStack child process and two gateways (stage ``test``, and stage ``tight`` with
stage throttling and a ``maxRequestBytes`` variable) for the whole module. Toy handlers
live in ``gateway_handlers/``.
"""

from __future__ import annotations

import http.client
import io
import json
import os
import re
import signal
import socket
import threading
import time
import uuid
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest

from stack.embedded.emulator import MiniStackProcess
from stack.embedded.gateway import GatewayProcess, GatewayStartError, launch, stop_gateway
from tests.helpers.proxy_event_shape import DOCUMENTED_EVENT, assert_same_shape

pytestmark = pytest.mark.integration

HANDLERS = Path(__file__).parent / "gateway_handlers"
REGION = "us-east-1"
ROLE = "arn:aws:iam::000000000000:role/gateway-test"
MARKER = "HOOKSTACK_GATEWAY_TEST_MARKER"


# --- MiniStack and the toy API -------------------------------------------------------------


@pytest.fixture(scope="module")
def ministack() -> Iterator[str]:
    # The emulator as upstream ships it: these tests are about the gateway, not the patches.
    with MiniStackProcess(patched=False) as process:
        yield process.endpoint_url


def _zip(*modules: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for module in modules:
            archive.write(HANDLERS / f"{module}.py", f"{module}.py")
    return buffer.getvalue()


@dataclass(frozen=True)
class ToyApi:
    api_id: str
    resource_ids: dict[str, str]
    account_id: str


def _client(service: str, endpoint: str) -> Any:
    return boto3.client(
        service, endpoint_url=endpoint, region_name=REGION, aws_access_key_id="test", aws_secret_access_key="test"
    )


@pytest.fixture(scope="module")
def toy_api(ministack: str) -> ToyApi:
    lam = _client("lambda", ministack)
    apigw = _client("apigateway", ministack)
    suffix = uuid.uuid4().hex[:6]

    def function(name: str, module: str, timeout: int = 3, **extra: Any) -> str:
        answer = lam.create_function(
            FunctionName=f"{name}-{suffix}",
            Runtime="python3.11",
            Role=ROLE,
            Handler=f"{module}.handler",
            Code={"ZipFile": _zip(module)},
            Timeout=timeout,
            MemorySize=256,
            **extra,
        )
        return answer["FunctionArn"]

    echo = function("gw-echo", "echo", timeout=2, Environment={"Variables": {"TOY_VAR": "toy"}})
    lam.put_function_concurrency(FunctionName=f"gw-echo-{suffix}", ReservedConcurrentExecutions=2)
    authorizer_fn = function("gw-authorizer", "authorizer")
    broken = function("gw-broken", "broken_import")

    api = apigw.create_rest_api(name=f"gateway-toy-{suffix}", binaryMediaTypes=["application/octet-stream"])
    api_id = api["id"]
    root = next(r["id"] for r in apigw.get_resources(restApiId=api_id)["items"] if r["path"] == "/")

    def uri(arn: str) -> str:
        return f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{arn}/invocations"

    cached = apigw.create_authorizer(
        restApiId=api_id,
        name="cached",
        type="REQUEST",
        authorizerUri=uri(authorizer_fn),
        identitySource="method.request.header.Authorization",
        authorizerResultTtlInSeconds=300,
    )["id"]
    uncached = apigw.create_authorizer(
        restApiId=api_id,
        name="uncached",
        type="REQUEST",
        authorizerUri=uri(authorizer_fn),
        identitySource="method.request.header.Authorization",
        authorizerResultTtlInSeconds=0,
    )["id"]

    ids: dict[str, str] = {}

    def resource(parent: str, part: str) -> str:
        rid = apigw.create_resource(restApiId=api_id, parentId=parent, pathPart=part)["id"]
        return rid

    def method(rid: str, verb: str, target: str, authorizer: str | None = None, timeout_ms: int | None = None) -> None:
        apigw.put_method(
            restApiId=api_id,
            resourceId=rid,
            httpMethod=verb,
            authorizationType="CUSTOM" if authorizer else "NONE",
            **({"authorizerId": authorizer} if authorizer else {}),
        )
        apigw.put_integration(
            restApiId=api_id,
            resourceId=rid,
            httpMethod=verb,
            type="AWS_PROXY",
            integrationHttpMethod="POST",
            uri=uri(target),
            **({"timeoutInMillis": timeout_ms} if timeout_ms else {}),
        )

    webhooks = resource(root, "webhooks")
    ids["/webhooks/{provider}"] = provider = resource(webhooks, "{provider}")
    method(provider, "POST", echo, cached)
    echo_root = resource(root, "echo")
    ids["/echo/{proxy+}"] = proxy = resource(echo_root, "{proxy+}")
    method(proxy, "ANY", echo, cached)
    ids["/uncached"] = plain = resource(root, "uncached")
    method(plain, "GET", echo, uncached)
    ids["/open"] = open_ = resource(root, "open")
    method(open_, "GET", echo)
    method(open_, "POST", echo)
    ids["/slow"] = slow = resource(root, "slow")
    method(slow, "GET", echo, timeout_ms=500)
    ids["/broken"] = broken_rid = resource(root, "broken")
    method(broken_rid, "GET", broken)

    deployment = apigw.create_deployment(restApiId=api_id, stageName="test", variables={"color": "blue"})
    apigw.create_stage(
        restApiId=api_id, stageName="tight", deploymentId=deployment["id"], variables={"maxRequestBytes": "1000"}
    )
    apigw.update_stage(
        restApiId=api_id,
        stageName="tight",
        patchOperations=[
            {"op": "replace", "path": "/*/*/throttling/rateLimit", "value": "1"},
            {"op": "replace", "path": "/*/*/throttling/burstLimit", "value": "2"},
        ],
    )
    account = echo.split(":")[4]
    return ToyApi(api_id=api_id, resource_ids=ids, account_id=account)


def _launch(ministack: str, toy_api: ToyApi, stage: str, root: Path) -> GatewayProcess:
    return launch(
        ministack,
        toy_api.api_id,
        stage,
        log_dir=root / "logs",
        state_dir=root / "state",
        timeout_s=60,
        exit_with_parent=True,
    )


@pytest.fixture(scope="module")
def gateway(ministack: str, toy_api: ToyApi, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    os.environ[MARKER] = "the gateway's own environment"
    try:
        process = _launch(ministack, toy_api, "test", tmp_path_factory.mktemp("gateway-test"))
    finally:
        del os.environ[MARKER]
    yield process
    assert process.stop() == 0


@pytest.fixture(scope="module")
def tight_gateway(
    ministack: str, toy_api: ToyApi, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[GatewayProcess]:
    process = _launch(ministack, toy_api, "tight", tmp_path_factory.mktemp("gateway-tight"))
    yield process
    process.stop()


# --- HTTP helpers --------------------------------------------------------------------------


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes
    seconds: float

    def json(self) -> Any:
        return json.loads(self.body)


def call(
    gateway: GatewayProcess,
    method: str,
    path: str,
    headers: dict[str, str] | None = None,
    body: bytes | None = None,
    timeout_s: float = 40,
) -> Answer:
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=timeout_s)
    started = time.perf_counter()
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        payload = response.read()
        return Answer(
            response.status, {k.lower(): v for k, v in response.getheaders()}, payload, time.perf_counter() - started
        )
    finally:
        connection.close()


AUTH_ALLOW = {"Authorization": "allow:acme"}


def _log(gateway: GatewayProcess, function_prefix: str) -> str:
    logs = gateway.log_path.parent.parent / "logs"
    matches = sorted(logs.glob(f"{function_prefix}-*.log"))
    assert matches, f"no log for {function_prefix} in {logs}"
    return matches[0].read_text()


def _function_stats(gateway: GatewayProcess, prefix: str) -> dict[str, Any]:
    functions = gateway.stats()["functions"]
    return next(v for k, v in functions.items() if k.startswith(prefix))


# --- tests ---------------------------------------------------------------------------------

UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def test_proxy_request_reaches_the_function_as_on_lambda(gateway: GatewayProcess, toy_api: ToyApi) -> None:
    answer = call(gateway, "GET", "/test/open?x=1&x=2&y=3", headers={"User-Agent": "toy/1.0"})
    assert answer.status == 200, answer.body
    assert answer.headers["x-echo"] == "1"
    assert answer.headers["content-type"] == "application/json"
    assert UUID.match(answer.headers["x-amzn-requestid"])
    seen = answer.json()
    event = seen["event"]
    assert event["path"] == "/open"
    assert event["queryStringParameters"] == {"x": "2", "y": "3"}
    assert event["multiValueQueryStringParameters"] == {"x": ["1", "2"], "y": ["3"]}
    assert event["stageVariables"] == {"color": "blue"}
    assert event["body"] is None and event["isBase64Encoded"] is False
    assert event["requestContext"]["path"] == "/test/open"
    assert "authorizer" not in event["requestContext"]
    # Lambda's context object, and its request id distinct from API Gateway's.
    context = seen["context"]
    assert UUID.match(context["aws_request_id"]) and context["aws_request_id"] != event["requestContext"]["requestId"]
    assert context["function_name"].startswith("gw-echo-")
    assert context["memory_limit_in_mb"] == "256"
    assert context["invoked_function_arn"].startswith(f"arn:aws:lambda:{REGION}:{toy_api.account_id}:function:gw-echo-")
    assert 0 < context["remaining_ms"] <= 2000
    # Lambda's environment, not the gateway's.
    environ = seen["environ"]
    assert MARKER not in environ
    assert environ["TOY_VAR"] == "toy"
    assert environ["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert environ["AWS_REGION"] == environ["AWS_DEFAULT_REGION"] == REGION
    assert environ["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
    assert environ["LAMBDA_TASK_ROOT"] == seen["cwd"] == seen["sys_path_0"]


def test_multi_value_response_headers(gateway: GatewayProcess) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", gateway.port, timeout=10)
    connection.request("GET", "/test/open")
    response = connection.getresponse()
    response.read()
    assert response.status == 200
    assert response.msg.get_all("Set-Cookie") == ["a=1", "b=2"]
    connection.close()


def test_event_matches_the_documented_rest_proxy_event(gateway: GatewayProcess, toy_api: ToyApi) -> None:
    before = time.time() * 1000
    body = b'{"id": 820982911946154508}'
    answer = call(
        gateway,
        "POST",
        "/test/webhooks/shopify?parameter1=value1&parameter1=value2&parameter2=value",
        headers={
            "Accept": "*/*",
            "Authorization": "allow:acme",
            "Content-Type": "application/json",
            "User-Agent": "curl/8.5.0",
        },
        body=body,
    )
    assert answer.status == 200, answer.body
    event = answer.json()["event"]
    assert_same_shape(event, DOCUMENTED_EVENT)

    assert event["resource"] == "/webhooks/{provider}"
    assert event["path"] == "/webhooks/shopify"
    assert event["httpMethod"] == "POST"
    assert event["pathParameters"] == {"provider": "shopify"}
    assert event["stageVariables"] == {"color": "blue"}
    assert event["queryStringParameters"] == DOCUMENTED_EVENT["queryStringParameters"]
    assert event["multiValueQueryStringParameters"] == DOCUMENTED_EVENT["multiValueQueryStringParameters"]
    assert event["body"] == body.decode() and event["isBase64Encoded"] is False
    assert event["headers"]["Authorization"] == "allow:acme"
    assert event["headers"]["User-Agent"] == "curl/8.5.0"
    assert event["headers"]["X-Forwarded-For"] == "127.0.0.1"
    assert event["multiValueHeaders"]["Content-Type"] == ["application/json"]

    context = event["requestContext"]
    assert context["accountId"] == toy_api.account_id
    assert context["apiId"] == toy_api.api_id
    assert context["stage"] == "test"
    assert context["resourceId"] == toy_api.resource_ids["/webhooks/{provider}"]
    assert context["resourcePath"] == "/webhooks/{provider}"
    assert context["httpMethod"] == "POST"
    assert context["path"] == "/test/webhooks/shopify"
    assert context["protocol"] == "HTTP/1.1"
    assert context["domainName"] == f"127.0.0.1:{gateway.port}"
    assert context["requestId"] == answer.headers["x-amzn-requestid"] and UUID.match(context["requestId"])
    assert re.fullmatch(r"\d{2}/[A-Z][a-z]{2}/\d{4}:\d{2}:\d{2}:\d{2} \+0000", context["requestTime"])
    assert before - 1000 <= context["requestTimeEpoch"] <= time.time() * 1000
    assert context["identity"]["sourceIp"] == "127.0.0.1"
    assert context["identity"]["userAgent"] == "curl/8.5.0"
    authorizer = context["authorizer"]
    assert {k: v for k, v in authorizer.items() if k != "integrationLatency"} == {
        "tenant": "acme",
        "providers": "shopify,stripe",
        "premium": "true",
        "quota": "5",
        "principalId": "user-acme",
    }
    assert isinstance(authorizer["integrationLatency"], int)

    # The REQUEST authorizer saw the request but never its body.
    log_lines = _log(gateway, "gw-authorizer").splitlines()
    lines = [json.loads(line) for line in log_lines if "authorizer_event_keys" in line]
    assert lines and all(not line["has_body"] for line in lines)
    assert set(lines[-1]["authorizer_event_keys"]) == {
        "type",
        "methodArn",
        "resource",
        "path",
        "httpMethod",
        "headers",
        "multiValueHeaders",
        "queryStringParameters",
        "multiValueQueryStringParameters",
        "pathParameters",
        "stageVariables",
        "requestContext",
    }


def test_binary_media_type_arrives_base64(gateway: GatewayProcess) -> None:
    payload = bytes(range(256))
    answer = call(gateway, "POST", "/test/open", headers={"Content-Type": "application/octet-stream"}, body=payload)
    event = answer.json()["event"]
    assert event["isBase64Encoded"] is True
    assert event["body"] == __import__("base64").b64encode(payload).decode()


def _authorizer_calls(gateway: GatewayProcess, token: str) -> int:
    return _log(gateway, "gw-authorizer").count(f"authorizer-invoked {token}\n")


def test_authorizer_result_is_cached_for_its_ttl(gateway: GatewayProcess) -> None:
    token = f"allow:ttl-{uuid.uuid4().hex[:8]}"
    statuses = [call(gateway, "GET", f"/test/echo/item-{i}", headers={"Authorization": token}).status for i in range(3)]
    statuses.append(call(gateway, "POST", "/test/webhooks/github", headers={"Authorization": token}, body=b"{}").status)
    assert statuses == [200, 200, 200, 200]
    assert _authorizer_calls(gateway, token) == 1  # one call; the cached policy covers every method


def test_authorizer_ttl_zero_calls_every_time(gateway: GatewayProcess) -> None:
    token = f"allow:nocache-{uuid.uuid4().hex[:8]}"
    statuses = [call(gateway, "GET", "/test/uncached", headers={"Authorization": token}).status for _ in range(3)]
    assert statuses == [200, 200, 200]
    assert _authorizer_calls(gateway, token) == 3


def test_missing_identity_source_is_401_without_calling_the_authorizer(gateway: GatewayProcess) -> None:
    before = _log(gateway, "gw-authorizer").count("authorizer-invoked")
    answer = call(gateway, "GET", "/test/echo/x")
    assert (answer.status, answer.body) == (401, b'{"message":"Unauthorized"}')
    assert answer.headers["x-amzn-errortype"] == "UnauthorizedException"
    assert _log(gateway, "gw-authorizer").count("authorizer-invoked") == before


def test_authorizer_raising_unauthorized_is_401(gateway: GatewayProcess) -> None:
    answer = call(gateway, "GET", "/test/echo/x", headers={"Authorization": "unauthorized"})
    assert (answer.status, answer.body) == (401, b'{"message":"Unauthorized"}')


def test_explicit_deny_is_403(gateway: GatewayProcess) -> None:
    answer = call(gateway, "GET", "/test/echo/x", headers={"Authorization": "deny"})
    assert answer.status == 403
    assert answer.json() == {
        "Message": "User is not authorized to access this resource with an explicit deny in an identity-based policy"
    }
    # Deny is cached too: a second request does not call the authorizer again.
    before = _authorizer_calls(gateway, "deny")
    assert call(gateway, "GET", "/test/echo/y", headers={"Authorization": "deny"}).status == 403
    assert _authorizer_calls(gateway, "deny") == before


def test_authorizer_failures_are_500(gateway: GatewayProcess) -> None:
    failed = call(gateway, "GET", "/test/echo/x", headers={"Authorization": "boom"})
    assert (failed.status, failed.body) == (500, b'{"message":null}')
    nested = call(gateway, "GET", "/test/echo/x", headers={"Authorization": "nested"})
    assert nested.status == 500 and nested.json() == {"message": "Internal server error"}


def test_unknown_routes(gateway: GatewayProcess) -> None:
    missing = b'{"message":"Missing Authentication Token"}'
    assert (call(gateway, "GET", "/test/nowhere").status, call(gateway, "GET", "/test/nowhere").body) == (403, missing)
    wrong_method = call(gateway, "DELETE", "/test/open")
    assert (wrong_method.status, wrong_method.body) == (403, missing)
    assert wrong_method.headers["x-amzn-errortype"] == "MissingAuthenticationTokenException"
    other_stage = call(gateway, "GET", "/prod/open")
    assert (other_stage.status, other_stage.body) == (403, b'{"message":"Forbidden"}')


def test_function_errors_are_502_and_the_gateway_keeps_serving(gateway: GatewayProcess) -> None:
    raised = call(gateway, "GET", "/test/open?raise=boom")
    assert (raised.status, raised.body) == (502, b'{"message": "Internal server error"}')
    malformed = call(gateway, "GET", "/test/open?malformed=1")
    assert malformed.status == 502
    assert call(gateway, "GET", "/test/open").status == 200
    assert "[ERROR] ValueError: boom" in _log(gateway, "gw-echo")


def test_init_failure_is_502(gateway: GatewayProcess) -> None:
    answer = call(gateway, "GET", "/test/broken")
    assert (answer.status, answer.body) == (502, b'{"message": "Internal server error"}')
    assert "Runtime.ImportModuleError: Unable to import module 'broken_import'" in _log(gateway, "gw-broken")


def test_killing_an_environment_mid_request_fails_only_that_request(gateway: GatewayProcess) -> None:
    crashes_before = _function_stats(gateway, "gw-echo")["crashes"]
    result: dict[str, Answer] = {}
    slow = threading.Thread(target=lambda: result.setdefault("slow", call(gateway, "GET", "/test/open?sleep=1.5")))
    slow.start()
    deadline = time.monotonic() + 10
    busy: list[int] = []
    while not busy and time.monotonic() < deadline:
        time.sleep(0.05)
        busy = _function_stats(gateway, "gw-echo")["busy_pids"]
    assert busy, "the slow request never reached an environment"
    os.kill(busy[0], signal.SIGKILL)
    slow.join(20)
    assert (result["slow"].status, result["slow"].body) == (502, b'{"message": "Internal server error"}')
    assert result["slow"].seconds < 1.4  # answered at the crash, not after the sleep
    assert call(gateway, "GET", "/test/open").status == 200
    stats = _function_stats(gateway, "gw-echo")
    assert stats["crashes"] == crashes_before + 1
    assert busy[0] not in stats["environment_pids"]
    assert "Runtime exited with error: signal: killed" in _log(gateway, "gw-echo")


def test_function_timeout_kills_the_environment(gateway: GatewayProcess) -> None:
    # The function's own timeout (2 s) is a Lambda error: API Gateway answers 502.
    answer = call(gateway, "GET", "/test/open?sleep=4")
    assert (answer.status, answer.body) == (502, b'{"message": "Internal server error"}')
    assert 1.9 < answer.seconds < 3.5
    assert "Task timed out after 2.00 seconds" in _log(gateway, "gw-echo")
    assert call(gateway, "GET", "/test/open").status == 200


def test_integration_timeout_is_504(gateway: GatewayProcess) -> None:
    # /slow's integration timeoutInMillis is 500: API Gateway gives up, the function runs on.
    answer = call(gateway, "GET", "/test/slow?sleep=1")
    assert (answer.status, answer.body) == (504, b'{"message": "Endpoint request timed out"}')
    assert 0.45 < answer.seconds < 0.95


def test_payload_over_10_mb_is_413_before_the_body_is_sent(gateway: GatewayProcess) -> None:
    with socket.create_connection(("127.0.0.1", gateway.port), timeout=10) as sock:
        sock.sendall(b"POST /test/open HTTP/1.1\r\nHost: x\r\nContent-Length: 10485761\r\n\r\n")
        data = b""
        while not data.endswith(b"}"):
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    assert data.startswith(b"HTTP/1.1 413 ")
    assert data.endswith(b'{"message":"Request Too Long"}')


def test_stage_request_limit_and_throttling(tight_gateway: GatewayProcess) -> None:
    too_big = call(tight_gateway, "POST", "/tight/open", body=b"x" * 1001)
    assert (too_big.status, too_big.body) == (413, b'{"message":"Request Too Long"}')
    answers = [call(tight_gateway, "POST", "/tight/open", body=b"x" * 1000) for _ in range(4)]
    # Burst 2, 1 request/s (one bucket per method): the first two pass, then throttled.
    assert [a.status for a in answers[:2]] == [200, 200]
    throttled = next((a for a in answers[2:] if a.status == 429), None)
    assert throttled is not None, [a.status for a in answers]
    assert throttled.body == b'{"message":"Too Many Requests"}'
    assert throttled.headers["x-amzn-errortype"] == "TooManyRequestsException"
    # GET /open has its own bucket under the same */* setting.
    assert call(tight_gateway, "GET", "/tight/open").status == 200


def test_logs_and_stats(gateway: GatewayProcess) -> None:
    call(gateway, "GET", "/test/open")
    text = _log(gateway, "gw-echo")
    reports = [line for line in text.splitlines() if line.startswith("REPORT RequestId: ")]
    assert reports and any("Init Duration: " in line for line in reports)
    assert any(json.loads(line).get("duration_ms") for line in text.splitlines() if line.startswith('{"message"'))
    stats = _function_stats(gateway, "gw-echo")
    assert stats["pool_size"] == 2  # the function's reserved concurrency
    assert stats["cold_starts"] >= 1 and len(stats["init_ms"]) == stats["cold_starts"]
    assert stats["invocations"] >= 10 and stats["errors"] >= 1 and stats["timeouts"] >= 1
    assert stats["environments"] <= 2
    assert gateway.stats()["responses"]["200"] >= 10


def test_sigterm_stops_every_environment(ministack: str, toy_api: ToyApi, tmp_path: Path) -> None:
    process = _launch(ministack, toy_api, "test", tmp_path)
    assert call(process, "GET", "/test/open").status == 200
    pids = _function_stats(process, "gw-echo")["environment_pids"]
    assert pids
    ready = json.loads((tmp_path / "state" / "gateway.ready.json").read_text())
    assert ready == {"url": process.url, "port": process.port, "pid": process.pid}
    # As `hookstack down` would, from the pid in the ready file.
    assert stop_gateway(ready["pid"]) is True
    assert not (tmp_path / "state" / "gateway.ready.json").exists()
    assert stop_gateway(ready["pid"]) is False
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def test_launch_reports_a_missing_api_clearly(ministack: str, tmp_path: Path) -> None:
    with pytest.raises(GatewayStartError, match="REST API 'nope' not found"):
        launch(ministack, "nope", "test", log_dir=tmp_path / "logs", state_dir=tmp_path / "state", timeout_s=30)
