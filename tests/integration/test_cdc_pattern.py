"""The CDC pattern end to end on the embedded target: several sources write a table (inserts,
then updates and deletes) → its stream → capture → FIFO queue → the trickle, fired as its
schedule fires it, → the partner simulator's rate-limited API. Counted from the partner's own
records: exactly the inserts arrive, once each, in each group's write order, never faster than
the partner allows."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from stack.config import HookstackConfig, load_config
from stack.deploy.outputs import StackOutputs
from stack.ops.schedules import find_schedule, fire, invoking_client
from stack.partner.process import PartnerProcess, running_partner
from stack.partner.records import most_in_any_window
from tests.helpers.private_stage import private_stage

pytestmark = pytest.mark.integration

STAGE = "cdc"
INSERTS = int(os.environ.get("HOOKSTACK_TEST_CDC_INSERTS", "500"))
SOURCES = 4  # writers, each owning its own customers
CUSTOMERS_PER_SOURCE = 5
PARTNER_RATE_PER_S = 10.0
PARTNER_BURST = 1
TRICKLE_RATE_PER_S = 8.0  # within the partner's limit, as a stage is configured
TRICKLE_MAX_MESSAGES = 300
DRAIN_DEADLINE_S = 30 + 3 * INSERTS / TRICKLE_RATE_PER_S  # upper bound of the whole drain
MAX_FIRES = 4 * INSERTS // TRICKLE_MAX_MESSAGES + 60


@pytest.fixture(scope="module")
def partner() -> Iterator[PartnerProcess]:
    with running_partner(rate_limit_per_s=PARTNER_RATE_PER_S, burst=PARTNER_BURST) as running:
        yield running


@pytest.fixture(scope="module")
def cdc_stage(tmp_path_factory, partner) -> Iterator[tuple[StackOutputs, HookstackConfig]]:
    config = load_config(
        stage=STAGE,
        patterns=["cdc"],
        partner_url=partner.url,
        cdc_trickle_rate_per_s=TRICKLE_RATE_PER_S,
        cdc_trickle_max_messages=TRICKLE_MAX_MESSAGES,
    )
    with private_stage(tmp_path_factory, config) as (outputs, _):
        yield outputs, config


def _write(stage: StackOutputs, source: int) -> list[tuple[str, str]]:
    """One source's inserts, in order, round-robin over its customers: (item id, customer)."""
    dynamodb = stage.client("dynamodb")
    table = stage.resource("CdcSourceTable", "cdc")
    written = []
    for n in range(source, INSERTS, SOURCES):
        customer = f"s{source}-c{n % CUSTOMERS_PER_SOURCE}"
        item_id = f"item-{n:05d}"
        dynamodb.put_item(
            TableName=table,
            Item={"id": {"S": item_id}, "customer": {"S": customer}, "n": {"N": str(n)}, "state": {"S": "new"}},
        )
        written.append((item_id, customer))
    return written


def _change_some(stage: StackOutputs, inserted: list[tuple[str, str]]) -> None:
    """Updates and deletes: the capture must skip every one of them."""
    dynamodb = stage.client("dynamodb")
    table = stage.resource("CdcSourceTable", "cdc")
    for item_id, _ in inserted[::5]:
        dynamodb.update_item(
            TableName=table,
            Key={"id": {"S": item_id}},
            UpdateExpression="SET #s = :s",
            ExpressionAttributeNames={"#s": "state"},
            ExpressionAttributeValues={":s": {"S": "changed"}},
        )
    for item_id, _ in inserted[1::10]:
        dynamodb.delete_item(TableName=table, Key={"id": {"S": item_id}})


def _depth(stage: StackOutputs, output: str) -> int:
    attributes = stage.client("sqs").get_queue_attributes(
        QueueUrl=stage.resource(output, "cdc"), AttributeNames=["All"]
    )["Attributes"]
    return sum(
        int(attributes[name])
        for name in ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible")
        if name in attributes
    )


def test_exactly_the_inserts_reach_the_partner_in_group_order_within_its_rate_limit(cdc_stage, partner):
    stage, config = cdc_stage
    partner.client.reset()
    with ThreadPoolExecutor(SOURCES) as pool:
        inserted = [pair for written in pool.map(lambda s: _write(stage, s), range(SOURCES)) for pair in written]
    _change_some(stage, inserted)
    assert len(inserted) == INSERTS

    schedule = find_schedule(config, "cdc-steady")
    lambda_client = invoking_client(stage.as_target(), schedule)
    events = stage.client("events")
    started = time.monotonic()
    fires, accepted = 0, 0
    reports = []
    while accepted < INSERTS and fires < MAX_FIRES and time.monotonic() - started < DRAIN_DEADLINE_S:
        result = fire(events, lambda_client, schedule, stage.region)
        fires += 1
        assert result.function_error is None, result.answer
        reports.append(result.answer)
        accepted = len(partner.client.trickle().accepted)
        if result.answer["delivered"] == 0:
            time.sleep(1.0)  # the capture has not queued more yet, or a Retry-After is running
    drained_s = time.monotonic() - started

    records = partner.client.trickle()
    ids = [record.body for record in records.accepted]
    got = [(r.group, _item(r.body)) for r in records.accepted]
    assert len(ids) == INSERTS, (
        f"{len(ids)} of {INSERTS} accepted after {fires} runs, {drained_s:.0f} s: {reports[-3:]}"
    )
    assert sorted(item["id"] for _, item in got) == sorted(item_id for item_id, _ in inserted)
    assert all(item["state"] == "new" for _, item in got)  # inserts only: no update reached the partner
    for group, group_records in records.by_group().items():
        numbers = [_item(r.body)["n"] for r in group_records]
        assert numbers == sorted(numbers), f"group {group} out of order"
        assert {_item(r.body)["customer"] for r in group_records} == {group}
    limit = PARTNER_BURST + PARTNER_RATE_PER_S * 1.0
    assert most_in_any_window(records.accepted, 1.0) <= limit
    # Deleted after the partner's 200 only: nothing is left, nothing dead-lettered or failed.
    assert _depth(stage, "CdcQueueUrl") == 0
    assert _depth(stage, "CdcDlqUrl") == 0
    assert _depth(stage, "CdcCaptureFailuresQueueUrl") == 0
    print(
        f"\n{INSERTS} inserts delivered in {drained_s:.1f} s over {fires} trickle runs; "
        f"{records.rate_limited} answered 429; most in any 1 s: {most_in_any_window(records.accepted, 1.0)}"
    )


def _item(body: str) -> dict:
    return json.loads(body)


DRILL_ITEMS = 30


def _drill_inserter(stage: StackOutputs, prefix: str):
    def insert() -> list[tuple[str, str, int]]:
        dynamodb = stage.client("dynamodb")
        table = stage.resource("CdcSourceTable", "cdc")
        written = []
        for n in range(DRILL_ITEMS):
            item_id, customer = f"{prefix}-{n:03d}", f"{prefix}-c{n % 3}"
            dynamodb.put_item(
                TableName=table,
                Item={"id": {"S": item_id}, "customer": {"S": customer}, "n": {"N": str(n)}, "state": {"S": "new"}},
            )
            written.append((item_id, customer, n))
        return written

    return insert


@pytest.mark.parametrize("variant", ["real", "delete-first"])
def test_partner_throttling_drill_passes_and_its_broken_variant_fails(cdc_stage, partner, variant):
    from chaos.partner_throttling import DeleteFirstTrickle, run_partner_throttling
    from handlers.contract.settings import CdcTrickleSettings

    stage, config = cdc_stage
    if variant == "real":
        schedule = find_schedule(config, "cdc-steady")
        lambda_client, events = invoking_client(stage.as_target(), schedule), stage.client("events")

        def fire_once():
            return fire(events, lambda_client, schedule, stage.region).answer

    else:
        settings = CdcTrickleSettings(
            cdc_queue_url=stage.resource("CdcQueueUrl", "cdc"),
            cdc_dlq_url=stage.resource("CdcDlqUrl", "cdc"),
            partner_url=partner.url,
            api_key_parameter=config.partner_api_key_parameter,
            max_messages=TRICKLE_MAX_MESSAGES,
            rate_per_s=TRICKLE_RATE_PER_S,
        )
        key = stage.client("ssm").get_parameter(Name=config.partner_api_key_parameter, WithDecryption=True)
        broken = DeleteFirstTrickle(settings, stage.client("sqs"), lambda: key["Parameter"]["Value"])

        def fire_once():
            return broken.run(lambda: 10**9)

    outcome = run_partner_throttling(
        partner.client,
        _drill_inserter(stage, variant),
        fire_once,
        lambda: _depth(stage, "CdcQueueUrl") + _depth(stage, "CdcDlqUrl"),
        variant=variant,
        drain_s=120.0,
    )
    checks = {check.name: check for check in outcome.checks}
    assert checks["fault had an effect"].ok, checks["fault had an effect"].detail
    assert checks["partner limit kept"].ok, checks["partner limit kept"].detail
    if variant == "real":
        assert outcome.passed, [c for c in outcome.checks if not c.ok]
    else:
        assert not checks["nothing lost"].ok, "the delete-first trickle lost nothing: the drill cannot catch it"
