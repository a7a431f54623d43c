"""Throughput of the embedded gateway against the SQS SendMessage ceiling, on one MiniStack.

One run, one MiniStack child process, 16 keep-alive client threads, a bounded number of
requests (and a time bound) per phase:

1. ``ceiling``   — SendMessage to a FIFO queue straight from boto3 (what the emulator can ack);
2. ``gateway``   — POST through hookstack's embedded gateway: REQUEST authorizer (TTL 300)
                   → producer-like function (one SendMessage, one log line) → 202;
3. ``ministack`` — the same API served by MiniStack itself
                   (``/restapis/{apiId}/{stage}/_user_request_/{path}``).

The phases run interleaved in rounds (order rotated each round), so a change in the
machine's load during the run hits every phase alike. Each phase sends to its own fresh
FIFO queue with the same number of messages, so every phase meets the same FIFO
deduplication-window size (MiniStack's per-send cost grows with it).

Figures: acks/s (202s, or SendMessage answers) overall and per round, p50/p99/max latency,
the ratio to the ceiling, and CPU ms per ack of the benchmark clients, the emulator (and
its own function workers) and the gateway (and its environments), read from /proc. The
machine's load average before and after is recorded: the cores are shared, so figures
move with whatever else runs.

    python benchmarks/gateway_throughput.py [--requests 3000] [--rounds 3] [--threads 16] [--json PATH]

Goal: the gateway at >= 75 % of the ceiling with p99 < 100 ms at 16 threads.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import shutil
import socket
import sys
import tempfile
import textwrap
import threading
import time
import uuid
import zipfile
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stack.embedded.emulator import MiniStackProcess  # noqa: E402 - run as a script: the repository goes on sys.path first
from stack.embedded.gateway import GatewayProcess, launch  # noqa: E402 - run as a script: the repository goes on sys.path first
from stack.percentiles import percentiles  # noqa: E402 - run as a script: the repository goes on sys.path first

REGION = "us-east-1"
ROLE = "arn:aws:iam::000000000000:role/bench"
STAGE = "bench"
GOAL_RATIO = 0.75
GOAL_P99_MS = 100.0
PHASE_TIME_LIMIT_S = 90.0
WARMUP_PER_THREAD = 8

PRODUCER = textwrap.dedent(
    """
    import json, os, time, uuid
    import boto3

    SQS = boto3.client("sqs")
    QUEUE_URL = os.environ["QUEUE_URL"]

    def handler(event, context):
        started = time.perf_counter()
        headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
        tenant = (event["requestContext"].get("authorizer") or {}).get("tenant", "unknown")
        delivery = headers.get("x-delivery-id") or str(uuid.uuid4())
        group = f"{tenant}:{hash(delivery) % 16}"
        SQS.send_message(QueueUrl=QUEUE_URL, MessageBody=event.get("body") or "{}",
                         MessageGroupId=group, MessageDeduplicationId=delivery)
        print(json.dumps({"level": "INFO", "message": "accepted", "delivery_id": delivery,
                          "duration_ms": round((time.perf_counter() - started) * 1000, 3)}))
        return {"statusCode": 202, "headers": {"Content-Type": "application/json"},
                "body": json.dumps({"id": delivery, "status": "RECEIVED"})}
    """
)

AUTHORIZER = textwrap.dedent(
    """
    def handler(event, context):
        token = (event.get("headers") or {}).get("Authorization", "")
        arn = event["methodArn"].split("/")
        return {
            "principalId": token,
            "policyDocument": {"Version": "2012-10-17", "Statement": [
                {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": "/".join(arn[:2]) + "/*"}]},
            "context": {"tenant": token.removeprefix("tenant-"), "providers": "shopify"},
        }
    """
)


# --- measuring -------------------------------------------------------------------------------


@dataclass
class Sample:
    """One slice of one phase."""

    latencies_ms: list[float]
    acks: int
    errors: dict[str, int]
    seconds: float
    cpu_s: dict[str, float]


@dataclass
class PhaseResult:
    name: str
    requests: int
    acks: int
    errors: dict[str, int]
    seconds: float
    acks_per_s: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    acks_per_s_by_round: list[float] = field(default_factory=list)
    cpu_ms_per_ack: dict[str, float] = field(default_factory=dict)


def _cpu_by_tree(roots: dict[str, tuple[int, str]]) -> dict[str, float]:
    """CPU seconds (utime+stime): each root process itself, and its live descendants under their own name."""
    parents: dict[int, int] = {}
    times: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        pid = int(entry)
        parents[pid] = int(fields[1])
        times[pid] = (int(fields[11]) + int(fields[12])) / tick
    totals: dict[str, float] = {}
    children_of = {root: children for root, children in roots.values()}
    for name, (root, children) in roots.items():
        totals[name] = times.get(root, 0.0)
        totals[children] = 0.0
    for pid, cpu in times.items():
        node = parents.get(pid, 1)
        while node > 1 and node not in children_of:
            node = parents.get(node, 1)
        if node in children_of:
            totals[children_of[node]] += cpu
    return totals


class CpuMeter:
    def __init__(self, processes: dict[str, tuple[int, str]]) -> None:
        self.processes = processes

    def read(self) -> dict[str, float]:
        figures = _cpu_by_tree(self.processes)
        t = os.times()
        figures["clients"] = t.user + t.system
        return figures


def run_slice(
    threads: int, total: int, make_worker: Callable[[], Callable[[], tuple[bool, str]]], meter: CpuMeter
) -> Sample:
    """``total`` calls split over ``threads``; each worker returns (acked, error label)."""
    per_thread = [total // threads + (1 if i < total % threads else 0) for i in range(threads)]
    latencies: list[list[float]] = [[] for _ in range(threads)]
    errors: list[dict[str, int]] = [{} for _ in range(threads)]
    acks = [0] * threads
    workers = [make_worker() for _ in range(threads)]
    deadline = time.monotonic() + PHASE_TIME_LIMIT_S
    barrier = threading.Barrier(threads + 1)

    def loop(index: int) -> None:
        call = workers[index]
        barrier.wait()
        for _ in range(per_thread[index]):
            if time.monotonic() > deadline:
                errors[index]["time limit"] = errors[index].get("time limit", 0) + 1
                break
            started = time.perf_counter()
            try:
                acked, label = call()
            except Exception as exc:  # noqa: BLE001 - counted, reported
                acked, label = False, type(exc).__name__
            latencies[index].append((time.perf_counter() - started) * 1000)
            if acked:
                acks[index] += 1
            else:
                errors[index][label] = errors[index].get(label, 0) + 1

    pool = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(threads)]
    for thread in pool:
        thread.start()
    barrier.wait()
    cpu_before = meter.read()
    started = time.perf_counter()
    for thread in pool:
        thread.join(PHASE_TIME_LIMIT_S + 30)
    seconds = time.perf_counter() - started
    cpu_after = meter.read()
    merged: dict[str, int] = {}
    for per in errors:
        for key, count in per.items():
            merged[key] = merged.get(key, 0) + count
    return Sample(
        latencies_ms=[v for per in latencies for v in per],
        acks=sum(acks),
        errors=merged,
        seconds=seconds,
        cpu_s={k: cpu_after[k] - cpu_before.get(k, 0.0) for k in cpu_after},
    )


def summarize(name: str, samples: list[Sample]) -> PhaseResult:
    latencies = [v for s in samples for v in s.latencies_ms]
    exact = percentiles(latencies, {"p50": 50, "p99": 99}, digits=2)
    figures = {name: float("nan") if value is None else value for name, value in exact.items()}
    acks = sum(s.acks for s in samples)
    seconds = sum(s.seconds for s in samples)
    errors: dict[str, int] = {}
    cpu: dict[str, float] = {}
    for sample in samples:
        for key, count in sample.errors.items():
            errors[key] = errors.get(key, 0) + count
        for key, value in sample.cpu_s.items():
            cpu[key] = cpu.get(key, 0.0) + value
    return PhaseResult(
        name=name,
        requests=len(latencies),
        acks=acks,
        errors=errors,
        seconds=round(seconds, 3),
        acks_per_s=round(acks / seconds, 1),
        p50_ms=figures["p50"],
        p99_ms=figures["p99"],
        max_ms=round(max(latencies), 2) if latencies else float("nan"),
        acks_per_s_by_round=[round(s.acks / s.seconds, 1) for s in samples],
        cpu_ms_per_ack={k: round(v * 1000 / max(acks, 1), 3) for k, v in cpu.items()},
    )


# --- workers -----------------------------------------------------------------------------------


def sqs_worker(endpoint: str, queue_url: str) -> Callable[[], Callable[[], tuple[bool, str]]]:
    def make() -> Callable[[], tuple[bool, str]]:
        client = _client("sqs", endpoint)
        body = json.dumps({"id": 1, "topic": "orders/create", "pad": "x" * 200})

        def call() -> tuple[bool, str]:
            delivery = str(uuid.uuid4())
            client.send_message(
                QueueUrl=queue_url,
                MessageBody=body,
                MessageGroupId=f"acme:{hash(delivery) % 16}",
                MessageDeduplicationId=delivery,
            )
            return True, ""

        return call

    return make


class KeepAliveClient:
    """A lean HTTP/1.1 keep-alive client: one socket, Content-Length framing.

    The clients share the two cores with what they measure; http.client spends about
    0.2 ms of CPU per request here, this about half of it, which is then left to the
    system under test. Both HTTP phases use it.
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.sock: socket.socket | None = None
        self.buffer = b""

    def _connect(self) -> socket.socket:
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=30)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock, self.buffer = sock, b""
        return sock

    def request(self, head: bytes, body: bytes) -> int:
        sock = self.sock or self._connect()
        try:
            sock.sendall(head + body)
            while b"\r\n\r\n" not in self.buffer:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("connection closed")
                self.buffer += chunk
            header_end = self.buffer.index(b"\r\n\r\n") + 4
            header = self.buffer[:header_end]
            status = int(header[9:12])
            marker = header.lower().find(b"content-length:")
            length = int(header[marker + 15 : header.index(b"\r\n", marker)]) if marker >= 0 else 0
            while len(self.buffer) < header_end + length:
                chunk = sock.recv(65536)
                if not chunk:
                    raise ConnectionError("connection closed")
                self.buffer += chunk
            self.buffer = self.buffer[header_end + length :]
            if b"connection: close" in header.lower():
                sock.close()
                self.sock = None
            return status
        except (OSError, ValueError):
            sock.close()
            self.sock = None
            raise


def http_worker(port: int, path: str) -> Callable[[], Callable[[], tuple[bool, str]]]:
    def make() -> Callable[[], tuple[bool, str]]:
        client = KeepAliveClient(port)
        body = json.dumps({"id": 1, "topic": "orders/create", "pad": "x" * 200}).encode()
        prefix = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAuthorization: tenant-acme\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nX-Delivery-Id: "
        ).encode()

        def call() -> tuple[bool, str]:
            status = client.request(prefix + str(uuid.uuid4()).encode() + b"\r\n\r\n", body)
            return status == 202, f"HTTP {status}"

        return call

    return make


# --- the stack under test ------------------------------------------------------------------------


def _client(service: str, endpoint: str) -> Any:
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=Config(max_pool_connections=64, retries={"max_attempts": 1}),
    )


def _zip(source: str, name: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(f"{name}.py", source)
    return buffer.getvalue()


def fifo_queue(sqs: Any, name: str) -> str:
    return sqs.create_queue(QueueName=f"{name}.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]


def deploy_api(endpoint: str, label: str, queue_url: str) -> str:
    """Authorizer + producer function + REST API (POST /webhooks/{provider}) at stage ``bench``."""
    lam, apigw = _client("lambda", endpoint), _client("apigateway", endpoint)
    producer = lam.create_function(
        FunctionName=f"bench-producer-{label}",
        Runtime="python3.11",
        Role=ROLE,
        Handler="producer.handler",
        Code={"ZipFile": _zip(PRODUCER, "producer")},
        Timeout=10,
        MemorySize=256,
        Environment={"Variables": {"QUEUE_URL": queue_url}},
    )["FunctionArn"]
    authorizer = lam.create_function(
        FunctionName=f"bench-authorizer-{label}",
        Runtime="python3.11",
        Role=ROLE,
        Handler="authorizer.handler",
        Code={"ZipFile": _zip(AUTHORIZER, "authorizer")},
        Timeout=5,
        MemorySize=128,
    )["FunctionArn"]

    def uri(arn: str) -> str:
        return f"arn:aws:apigateway:{REGION}:lambda:path/2015-03-31/functions/{arn}/invocations"

    api_id = apigw.create_rest_api(name=f"bench-{label}")["id"]
    root = next(r["id"] for r in apigw.get_resources(restApiId=api_id)["items"] if r["path"] == "/")
    auth_id = apigw.create_authorizer(
        restApiId=api_id,
        name="tenant",
        type="REQUEST",
        authorizerUri=uri(authorizer),
        identitySource="method.request.header.Authorization",
        authorizerResultTtlInSeconds=300,
    )["id"]
    webhooks = apigw.create_resource(restApiId=api_id, parentId=root, pathPart="webhooks")["id"]
    provider = apigw.create_resource(restApiId=api_id, parentId=webhooks, pathPart="{provider}")["id"]
    apigw.put_method(
        restApiId=api_id, resourceId=provider, httpMethod="POST", authorizationType="CUSTOM", authorizerId=auth_id
    )
    apigw.put_integration(
        restApiId=api_id,
        resourceId=provider,
        httpMethod="POST",
        type="AWS_PROXY",
        integrationHttpMethod="POST",
        uri=uri(producer),
    )
    apigw.create_deployment(restApiId=api_id, stageName=STAGE)
    return api_id


def warm(port: int, path: str, threads: int) -> None:
    """Start every environment and fill the authorizer cache before measuring."""
    make = http_worker(port, path)
    failures: list[str] = []

    def loop() -> None:
        call = make()
        for _ in range(WARMUP_PER_THREAD):
            ok, label = call()
            if not ok:
                failures.append(label)

    pool = [threading.Thread(target=loop, daemon=True) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(120)
    if len(failures) == threads * WARMUP_PER_THREAD:
        raise SystemExit(f"every warm-up request to {path} failed: {sorted(set(failures))}")


# --- report -------------------------------------------------------------------------------------


def report(console: Console, results: dict[str, PhaseResult], summary: dict[str, Any]) -> None:
    table = Table(
        title=f"SendMessage acks, {summary['threads']} threads, {summary['requests_per_phase']} requests per phase "
        f"in {summary['rounds']} interleaved rounds"
    )
    for column in ("phase", "acks/s", "by round", "vs ceiling", "p50 ms", "p99 ms", "max ms", "errors"):
        table.add_column(column, justify="left" if column in ("phase", "by round", "errors") else "right")
    for key, result in results.items():
        table.add_row(
            key,
            f"{result.acks_per_s:.1f}",
            " ".join(f"{v:.0f}" for v in result.acks_per_s_by_round),
            f"{summary['ratios'][key]:.0%}",
            f"{result.p50_ms:.1f}",
            f"{result.p99_ms:.1f}",
            f"{result.max_ms:.1f}",
            ", ".join(f"{k}: {v}" for k, v in result.errors.items()) or "-",
        )
    console.print(table)
    cpu = Table(title="CPU ms per ack, by process")
    names = ["clients", "emulator", "emulator's functions", "gateway", "environments"]
    cpu.add_column("phase", no_wrap=True)
    for name in names:
        cpu.add_column(name, justify="right")
    for key, result in results.items():
        cpu.add_row(key, *(f"{result.cpu_ms_per_ack.get(n, 0.0):.2f}" for n in names))
    console.print(cpu)
    goal = summary["goal"]
    verdict = "[green]met[/green]" if goal["met"] else "[red]missed[/red]"
    console.print(
        f"ceiling {summary['ceiling_acks_per_s']:.1f} acks/s · gateway {summary['ratios']['gateway']:.0%} of it, "
        f"p99 {results['gateway'].p99_ms:.1f} ms · goal >= {GOAL_RATIO:.0%} and p99 < {GOAL_P99_MS:.0f} ms: "
        f"{verdict} · load average {summary['load_average_before'][0]:.1f} → {summary['load_average_after'][0]:.1f} "
        f"on {summary['cpu_count']} CPUs"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=3000, help="measured requests per phase (all rounds)")
    parser.add_argument("--rounds", type=int, default=3, help="phases interleave in this many rounds")
    parser.add_argument("--threads", type=int, default=16)
    parser.add_argument("--json", type=Path, help="write the figures to this file")
    parser.add_argument(
        "--unpatched", action="store_true", help="run MiniStack as upstream ships it (no FIFO dedup fix)"
    )
    parser.add_argument("--skip-ministack-api", action="store_true", help="do not measure MiniStack's own API path")
    parser.add_argument("--keep-workdir", action="store_true", help="keep the logs and state of the run")
    args = parser.parse_args(argv)
    if not 1 <= args.requests <= 50_000 or not 1 <= args.threads <= 64 or not 1 <= args.rounds <= 20:
        parser.error("--requests must be 1..50000, --threads 1..64, --rounds 1..20")

    console = Console()
    if not console.is_terminal:
        console.width = 120
    workdir = Path(tempfile.mkdtemp(prefix="gateway-bench-"))
    load_before = os.getloadavg()
    ministack = MiniStackProcess(patched=not args.unpatched).start()
    endpoint = ministack.endpoint_url
    gateway: GatewayProcess | None = None
    try:
        sqs = _client("sqs", endpoint)
        # One fresh FIFO queue per phase, each receiving the same number of messages.
        queues = {
            name: fifo_queue(sqs, f"bench-{name}-{uuid.uuid4().hex[:6]}")
            for name in ("ceiling", "gateway", "ministack")
        }
        gateway_api = deploy_api(endpoint, "gw", queues["gateway"])
        ministack_api = deploy_api(endpoint, "ms", queues["ministack"])
        gateway = launch(
            endpoint,
            gateway_api,
            STAGE,
            log_dir=workdir / "logs",
            state_dir=workdir / "gateway",
            exit_with_parent=True,
        )
        meter = CpuMeter(
            {"emulator": (ministack.pid, "emulator's functions"), "gateway": (gateway.pid, "environments")}
        )
        console.print(f"MiniStack {endpoint} · gateway {gateway.url} · work dir {workdir}")

        gateway_path = f"/{STAGE}/webhooks/shopify"
        phases: dict[str, Callable[[], Callable[[], tuple[bool, str]]]] = {
            "ceiling": sqs_worker(endpoint, queues["ceiling"]),
            "gateway": http_worker(gateway.port, gateway_path),
        }
        console.print("warm-up: gateway (cold starts, authorizer cache)")
        warm(gateway.port, gateway_path, args.threads)
        if not args.skip_ministack_api:
            ms_port = int(endpoint.rsplit(":", 1)[1])
            ms_path = f"/restapis/{ministack_api}/{STAGE}/_user_request_/webhooks/shopify"
            phases["ministack"] = http_worker(ms_port, ms_path)
            console.print("warm-up: MiniStack API")
            warm(ms_port, ms_path, args.threads)

        # Interleaved rounds, order rotated each round, so drift in the machine's load
        # (shared cores) hits every phase alike.
        samples: dict[str, list[Sample]] = {name: [] for name in phases}
        per_round = max(1, args.requests // args.rounds)
        names = list(phases)
        for round_index in range(args.rounds):
            order = names[round_index % len(names) :] + names[: round_index % len(names)]
            for name in order:
                console.print(f"round {round_index + 1}/{args.rounds}: {name}")
                samples[name].append(run_slice(args.threads, per_round, phases[name], meter))
        results = {name: summarize(name, samples[name]) for name in phases}

        ceiling = results["ceiling"].acks_per_s
        ratios = {k: round(r.acks_per_s / ceiling, 3) for k, r in results.items()}
        met = ratios["gateway"] >= GOAL_RATIO and results["gateway"].p99_ms < GOAL_P99_MS
        summary = {
            "threads": args.threads,
            "requests_per_phase": per_round * args.rounds,
            "rounds": args.rounds,
            "cpu_count": os.cpu_count(),
            "load_average_before": [round(v, 2) for v in load_before],
            "load_average_after": [round(v, 2) for v in os.getloadavg()],
            "ceiling_acks_per_s": ceiling,
            "ratios": ratios,
            "goal": {"ratio": GOAL_RATIO, "p99_ms": GOAL_P99_MS, "met": met},
            "phases": {k: asdict(r) for k, r in results.items()},
            "gateway_stats": gateway.stats(),
        }
        report(console, results, summary)
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(summary, indent=2))
            console.print(f"figures written to {args.json}")
        return 0
    finally:
        if gateway is not None:
            gateway.stop()
        ministack.stop()
        if not args.keep_workdir:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
