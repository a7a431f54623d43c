"""Chaos drills on the embedded target, CI-sized (24 events each): every drill ends PASS, a
deliberately broken stage ends FAIL, and `chaos off` removes every fault.

One drill-sized stack for the module (stage ``chaos``, worker timeout 3 s, so visibility is 18 s;
its own HOOKSTACK_HOME): on the default stage a redelivery waits 180 s.

The drills mostly wait on visibility timeouts, so they are split into three classes, balanced by
measured duration (``replay`` alone is ~85 s), the longest test of each first. Under pytest-xdist
(``--dist loadscope``, see tests/conftest.py) a class is one unit of work: each runs on one worker,
which brings up its own drill stack (the module fixture runs once per worker), and the three run
side by side.
"""

from __future__ import annotations

import json
import os
import random
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from typer.testing import CliRunner

from chaos.cli import app as chaos_app
from chaos.context import DrillSettings
from chaos.drills import DRILLS
from chaos.report import write_reports
from chaos.runner import run_drill
from chaos.stage import fresh_embedded_stack, read_timings
from stack.clients.providers.shopify import shopify_delivery
from stack.clients.webhook_client import ApiClient
from stack.deploy.outputs import provider_secret, tenant_token
from tests.helpers.status_polling import wait_for_status

pytestmark = pytest.mark.integration

SETTINGS = DrillSettings(events=24, groups=4, max_seconds=200)


WARM_UP_TIMEOUT_S = 90.0


WARM_UP_ATTEMPTS = 4


def _warm_up(outputs) -> None:
    """A few deliveries end to end, in parallel as a drill sends them, before the first drill: the
    authorizer, the producer environments and the worker start cold on a fresh stack, and on a busy
    machine those first requests take longer than a drill's fault window (9 s). In one shared stack,
    only the first drill paid that; with a stack per class, each would. Bounded in time."""
    secret = provider_secret(outputs, "shopify")
    token = tenant_token(outputs)
    rng = random.Random(time.time())
    deliveries = [
        shopify_delivery("orders/create", secret, shop=f"warm-up-{i}.myshopify.com", rng=rng) for i in range(4)
    ]

    def one(delivery) -> None:
        client = ApiClient(outputs.api_url, token)
        try:
            # A cold authorizer on an overloaded machine can miss its 5 s timeout (500): the warm-up
            # is what pays that, so it asks again, as a provider would (a few times, bounded).
            for _ in range(WARM_UP_ATTEMPTS):
                response = client.post_webhook("shopify", delivery.body, delivery.headers)
                if response.status not in (500, 502, 503, 504):
                    break
            assert response.status == 202, response.body[:300]
            wait_for_status(client, response.json()["id"], {"PROCESSED"}, timeout_s=WARM_UP_TIMEOUT_S)
        finally:
            client.close()

    with ThreadPoolExecutor(max_workers=len(deliveries)) as pool:
        for future in [pool.submit(one, delivery) for delivery in deliveries]:
            future.result()


@pytest.fixture(scope="module")
def drill_stack():
    with fresh_embedded_stack() as outputs:
        home = os.environ["HOOKSTACK_HOME"]
        _warm_up(outputs)
        yield outputs
    leftovers = subprocess.run(["pgrep", "-f", home], capture_output=True, text=True).stdout.split()
    assert not leftovers, f"processes left behind: {leftovers}"


def _summary(result) -> str:
    c = result.counts
    return (
        f"{result.drill}: {result.verdict} in {result.duration_s:.1f}s — sent {c['sent']}, acked {c['acked']}, "
        f"processed {c['processed']}, dead-lettered {c['dead_lettered']} {c['dead_lettered_by_reason']}, "
        f"replayed {c['replayed']}, duplicates {c['duplicates_applied']}, order violations "
        f"{c['order_violations']}, missing {c['missing']}"
    )


def check_drill_passes(drill_stack, name, tmp_path) -> None:
    result = run_drill(name, drill_stack, SETTINGS)
    write_reports(result, tmp_path)
    print(_summary(result))
    assert result.passed, result.failures
    counts = result.counts
    assert counts["acked"] >= SETTINGS.events and counts["processed"] == counts["acked"]
    assert counts["duplicates_applied"] == counts["order_violations"] == counts["missing"] == 0
    assert counts["dlq_depth_end"] == 0
    assert counts["replayed"] >= counts["dead_lettered"]
    if name in ("schema-drift", "poison-message", "replay"):
        assert counts["dead_lettered"] > 0  # the fault really sent events to the DLQ, then they were fixed
    assert len(result.timeline["samples"]) >= 3 and result.timeline["marks"]


class TestDrillsA:
    """replay alone is ~85 s: a partner down longer than the retry budget, then the DLQ replayed."""

    NAMES = ("replay", "poison-message")

    @pytest.mark.parametrize("name", NAMES)
    def test_drill_passes(self, drill_stack, name, tmp_path):
        check_drill_passes(drill_stack, name, tmp_path)

    def test_a_replay_that_deletes_before_sending_fails_the_drill(self, drill_stack):
        result = run_drill(
            "poison-message", drill_stack, DrillSettings(events=12, groups=4, max_seconds=120, sabotage="broken-replay")
        )
        print(_summary(result))
        assert result.verdict == "FAIL"
        assert result.counts["dead_lettered"] > 0 and result.counts["missing"] >= result.counts["dead_lettered"]
        assert any("not in the DLQ" in failure for failure in result.failures)


class TestDrillsB:
    NAMES = ("slow-downstream", "worker-crash", "retry-storm")

    def test_the_drill_stack_has_drill_sized_timings(self, drill_stack):
        timings = read_timings(drill_stack)
        assert (timings.worker_timeout_s, timings.visibility_timeout_s, timings.max_receive_count) == (3, 18, 3)
        assert timings.faults_cache_s == 2

    @pytest.mark.parametrize("name", NAMES)
    def test_drill_passes(self, drill_stack, name, tmp_path):
        check_drill_passes(drill_stack, name, tmp_path)

    def test_chaos_off_removes_every_fault_and_the_handlers_follow(self, drill_stack):
        runner = CliRunner()
        where = ["--target", "embedded", "--stage", drill_stack.stage]
        for fault_id, action in (
            ("enqueue-down", ["--action", "error"]),
            ("enqueue-slow", ["--action", "latency", "--latency-ms", "50"]),
        ):
            result = runner.invoke(
                chaos_app,
                [
                    "inject",
                    "--id",
                    fault_id,
                    "--function",
                    "producer",
                    "--point",
                    "enqueue",
                    "--for",
                    "120",
                    *action,
                    *where,
                ],
            )
            assert result.exit_code == 0, result.output
        status = json.loads(runner.invoke(chaos_app, ["status", "--json", *where]).stdout)
        assert sorted(f["id"] for f in status["active"]) == ["enqueue-down", "enqueue-slow"]
        timings = read_timings(drill_stack)
        time.sleep(timings.propagation_s)
        client = ApiClient(drill_stack.api_url, tenant_token(drill_stack))
        secret = provider_secret(drill_stack, "shopify")
        rng = random.Random(time.time())
        try:
            delivery = shopify_delivery("orders/create", secret, shop="chaos-off.myshopify.com", rng=rng)
            assert client.post_webhook("shopify", delivery.body, delivery.headers).status == 503
            result = runner.invoke(chaos_app, ["off", *where])
            assert result.exit_code == 0 and "removed 2 active fault(s)" in result.output
            assert json.loads(runner.invoke(chaos_app, ["status", "--json", *where]).stdout)["active"] == []
            time.sleep(timings.propagation_s)
            assert client.post_webhook("shopify", delivery.body, delivery.headers).status == 202
        finally:
            client.close()
            runner.invoke(chaos_app, ["off", *where])


def _and_the_rest(names: tuple[str, ...]) -> tuple[str, ...]:
    """``names``, then every drill of DRILLS that no class names: every drill runs."""
    named = TestDrillsA.NAMES + TestDrillsB.NAMES + names
    return names + tuple(name for name in DRILLS if name not in named)


class TestDrillsC:
    NAMES = _and_the_rest(("downstream-outage", "schema-drift", "enqueue-outage"))

    @pytest.mark.parametrize("name", NAMES)
    def test_drill_passes(self, drill_stack, name, tmp_path):
        check_drill_passes(drill_stack, name, tmp_path)

    def test_a_worker_that_acks_without_writing_fails_the_drill(self, drill_stack, tmp_path):
        runner = CliRunner()
        result = runner.invoke(
            chaos_app,
            [
                "run",
                "retry-storm",
                "--target",
                "embedded",
                "--stage",
                drill_stack.stage,
                "--deployed",
                "--sabotage",
                "skip-write",
                "--report-dir",
                str(tmp_path),
            ],
        )
        assert result.exit_code == 1, result.output
        [report] = tmp_path.glob("retry-storm-*.json")
        data = json.loads(report.read_text())
        print(f"skip-write sabotage: {data['verdict']}, missing {data['counts']['missing']}")
        assert data["verdict"] == "FAIL" and data["counts"]["missing"] >= 1
        assert any("lost write" in failure for failure in data["failures"])
        assert list(tmp_path.glob("retry-storm-*.html"))
