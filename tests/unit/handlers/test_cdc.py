"""The CDC pattern's functions against moto: capture (stream → FIFO queue) and trickle (queue →
a fake rate-limited partner)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field

import boto3
import pytest

from handlers.cdc import capture, trickle
from handlers.cdc.contract import ATTR_DEAD_LETTER_REASON, GROUP_KEY_HEADER, ItemMessage
from handlers.contract.settings import CdcTrickleSettings
from handlers.platform import parameter_store
from tests.helpers.moto_aws import moto_account

REGION = "us-east-1"
API_KEY = "partner-key-0123456789"


@pytest.fixture
def cdc_aws(monkeypatch):
    with moto_account(monkeypatch):
        sqs = boto3.client("sqs", region_name=REGION)
        fifo = {"FifoQueue": "true", "VisibilityTimeout": "60"}
        queue_url = sqs.create_queue(QueueName="cdc.fifo", Attributes=fifo)["QueueUrl"]
        dlq_url = sqs.create_queue(QueueName="cdc-dlq.fifo", Attributes=fifo)["QueueUrl"]
        yield type("Aws", (), {"sqs": sqs, "queue_url": queue_url, "dlq_url": dlq_url})


# --- capture ---


def _record(event_name: str, sequence: int, item: Mapping[str, str] | None) -> dict:
    stream: dict = {"SequenceNumber": f"{sequence:021d}", "Keys": {"id": {"S": "x"}}, "StreamViewType": "NEW_IMAGE"}
    if item is not None:
        stream["NewImage"] = {name: {"S": value} for name, value in item.items()} | {"n": {"N": str(sequence)}}
    return {"eventID": str(sequence), "eventName": event_name, "eventSource": "aws:dynamodb", "dynamodb": stream}


def _queued(aws) -> list[dict]:
    found: list[dict] = []
    for _ in range(20):  # bounded: the tests queue far fewer than 200 messages
        batch = aws.sqs.receive_message(
            QueueUrl=aws.queue_url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"]
        ).get("Messages", [])
        if not batch:
            return found
        found += batch
    return found


def test_capture_queues_inserts_only_one_message_each_grouped_by_the_ordering_key(cdc_aws):
    function = capture.Capture(cdc_aws.sqs, cdc_aws.queue_url)
    records = [
        _record("INSERT", 1, {"id": "i1", "customer": "c1"}),
        _record("MODIFY", 2, {"id": "i1", "customer": "c1"}),
        _record("INSERT", 3, {"id": "i2", "customer": "c2"}),
        _record("REMOVE", 4, None),
    ]
    assert function.handle({"Records": records}, None) == {"batchItemFailures": []}
    messages = _queued(cdc_aws)
    bodies = [ItemMessage.model_validate_json(m["Body"]) for m in messages]
    assert sorted((b.id, b.group) for b in bodies) == [("i1", "c1"), ("i2", "c2")]
    assert {b.item["n"] for b in bodies} == {1, 3}  # DynamoDB numbers arrive as JSON numbers
    for message, body in zip(messages, bodies, strict=True):
        assert message["Attributes"]["MessageGroupId"] == body.group
        assert message["Attributes"]["MessageDeduplicationId"] == body.sequence_number
    assert function.counts["ignored_by_design"] == 2 and function.counts["queued"] == 2


def test_a_retried_record_is_deduplicated_by_its_sequence_number(cdc_aws):
    function = capture.Capture(cdc_aws.sqs, cdc_aws.queue_url)
    event = {"Records": [_record("INSERT", 7, {"id": "i7", "customer": "c1"})]}
    function.handle(event, None)
    function.handle(event, None)
    assert len(_queued(cdc_aws)) == 1


class FailingSqs:
    """Sends through moto, except for the items named."""

    def __init__(self, sqs, failing_ids: set[str]):
        self._sqs, self._failing = sqs, failing_ids

    def send_message(self, **kwargs):
        if json.loads(kwargs["MessageBody"])["id"] in self._failing:
            raise RuntimeError("SQS unavailable")
        return self._sqs.send_message(**kwargs)


def test_a_record_that_cannot_be_sent_fails_with_every_record_after_it_unsent(cdc_aws):
    function = capture.Capture(FailingSqs(cdc_aws.sqs, {"i2"}), cdc_aws.queue_url)
    records = [_record("INSERT", n, {"id": f"i{n}", "customer": "c1"}) for n in (1, 2, 3)]
    answer = function.handle({"Records": records}, None)
    # Lambda resumes the shard at the lowest failed sequence number: i3 must not overtake i2.
    assert answer == {"batchItemFailures": [{"itemIdentifier": f"{n:021d}"} for n in (2, 3)]}
    assert [ItemMessage.model_validate_json(m["Body"]).id for m in _queued(cdc_aws)] == ["i1"]
    assert function.counts["behind_failure"] == 1


def test_an_insert_without_its_ordering_key_fails_its_record(cdc_aws):
    function = capture.Capture(cdc_aws.sqs, cdc_aws.queue_url)
    records = [_record("INSERT", 1, {"id": "ok", "customer": "c1"}), _record("INSERT", 2, {"id": "no-customer"})]
    answer = function.handle({"Records": records}, None)
    assert answer == {"batchItemFailures": [{"itemIdentifier": f"{2:021d}"}]}


# --- trickle ---


@dataclass
class FakePartner:
    """Answers from a script (then 200), and remembers every request with the fake time it started."""

    clock: FakeClock
    script: list[trickle.PartnerAnswer | Exception] = field(default_factory=list)
    requests: list[tuple[float, str, dict, dict]] = field(default_factory=list)

    def post(self, url: str, body: bytes, headers: Mapping[str, str]) -> trickle.PartnerAnswer:
        self.requests.append((self.clock.now, url, json.loads(body), dict(headers)))
        answer = self.script.pop(0) if self.script else trickle.PartnerAnswer(200)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def ids(self) -> list[str]:
        return [body["id"] for _, _, body, _ in self.requests]


@dataclass
class FakeClock:
    now: float = 1000.0
    slept: list[float] = field(default_factory=list)

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def _settings(aws, max_messages: int = 100, rate: float = 5.0) -> CdcTrickleSettings:
    return CdcTrickleSettings(
        cdc_queue_url=aws.queue_url,
        cdc_dlq_url=aws.dlq_url,
        partner_url="http://partner.test",
        api_key_parameter="/hookstack/dev/partner/api-key",
        max_messages=max_messages,
        rate_per_s=rate,
    )


def _trickle(aws, partner: FakePartner, **settings) -> trickle.Trickle:
    return trickle.Trickle(
        _settings(aws, **settings),
        aws.sqs,
        lambda: API_KEY,
        post=partner.post,
        clock=lambda: partner.clock.now,
        sleep=partner.clock.sleep,
        wall_clock=lambda: 1_700_000_000.0,
    )


def _enqueue(aws, items: list[tuple[str, str]]) -> None:
    for n, (item_id, group) in enumerate(items, start=1):
        body = ItemMessage(id=item_id, group=group, sequence_number=str(n), item={"id": item_id}, captured_at=0)
        aws.sqs.send_message(
            QueueUrl=aws.queue_url,
            MessageBody=body.model_dump_json(),
            MessageGroupId=group,
            MessageDeduplicationId=str(n),
        )


def _depth(aws, url: str) -> int:
    attributes = aws.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]) + int(attributes["ApproximateNumberOfMessagesNotVisible"])


def _forever() -> int:
    return 10**9


def test_a_run_sends_every_item_in_group_order_at_the_rate_and_deletes_each_after_its_2xx(cdc_aws):
    _enqueue(cdc_aws, [("a1", "A"), ("b1", "B"), ("a2", "A"), ("b2", "B"), ("a3", "A")])
    partner = FakePartner(FakeClock())
    report = _trickle(cdc_aws, partner, rate=4.0).run(_forever)
    assert report.delivered == 5 and report.stopped == "drained"
    ids = partner.ids()
    assert [i for i in ids if i.startswith("a")] == ["a1", "a2", "a3"]
    assert [i for i in ids if i.startswith("b")] == ["b1", "b2"]
    starts = [at for at, *_ in partner.requests]
    assert all(later - earlier >= 0.25 for earlier, later in zip(starts, starts[1:], strict=False))
    url, body, headers = partner.requests[0][1:]
    assert url == "http://partner.test/trickle/items"
    assert headers["Authorization"] == f"Bearer {API_KEY}" and headers[GROUP_KEY_HEADER] == body["id"][0].upper()
    assert _depth(cdc_aws, cdc_aws.queue_url) == 0


def test_a_429_leaves_the_item_for_its_retry_after_stops_the_run_and_the_next_run_waits(cdc_aws):
    _enqueue(cdc_aws, [("a1", "A"), ("a2", "A"), ("a3", "A")])
    partner = FakePartner(FakeClock(), script=[trickle.PartnerAnswer(200), trickle.PartnerAnswer(429, "3")])
    function = _trickle(cdc_aws, partner)
    report = function.run(_forever)
    assert (report.delivered, report.stopped, report.refused_status) == (1, "refused", 429)
    assert partner.ids() == ["a1", "a2"]  # a3 was never tried: it is behind the refused a2
    assert _depth(cdc_aws, cdc_aws.queue_url) == 2  # nothing deleted without a 2xx
    slept_before = list(partner.clock.slept)
    function.run(_forever)  # at once: the run first waits out the partner's Retry-After
    assert partner.clock.slept[len(slept_before)] == pytest.approx(3.0, abs=0.3)


def test_a_5xx_or_an_unreachable_partner_leaves_the_item_and_stops_the_run(cdc_aws):
    _enqueue(cdc_aws, [("a1", "A"), ("b1", "B")])
    for failure in (trickle.PartnerAnswer(503), trickle.PartnerUnreachableError("timed out")):
        partner = FakePartner(FakeClock(), script=[failure])
        report = _trickle(cdc_aws, partner).run(_forever)
        assert report.delivered == 0 and report.stopped == "refused"
        assert _depth(cdc_aws, cdc_aws.queue_url) == 2


def test_a_permanent_4xx_goes_to_the_dlq_with_its_reason_and_the_run_goes_on(cdc_aws):
    _enqueue(cdc_aws, [("a1", "A"), ("a2", "A")])
    partner = FakePartner(FakeClock(), script=[trickle.PartnerAnswer(422)])
    report = _trickle(cdc_aws, partner).run(_forever)
    assert (report.delivered, report.dead_lettered) == (1, 1)
    assert _depth(cdc_aws, cdc_aws.queue_url) == 0
    dead = cdc_aws.sqs.receive_message(QueueUrl=cdc_aws.dlq_url, MessageAttributeNames=["All"])["Messages"]
    assert json.loads(dead[0]["Body"])["id"] == "a1"
    assert dead[0]["MessageAttributes"][ATTR_DEAD_LETTER_REASON]["StringValue"] == "partner answered 422"


def test_a_run_takes_at_most_max_messages(cdc_aws):
    _enqueue(cdc_aws, [(f"a{n}", "A") for n in range(7)])
    partner = FakePartner(FakeClock())
    report = _trickle(cdc_aws, partner, max_messages=3).run(_forever)
    assert (report.delivered, report.stopped) == (3, "max_messages")
    assert _depth(cdc_aws, cdc_aws.queue_url) == 4


def test_the_api_key_comes_from_a_securestring_is_cached_and_never_logged(cdc_aws, monkeypatch, capsys):
    ssm = boto3.client("ssm", region_name=REGION)
    ssm.put_parameter(Name="/hookstack/dev/partner/api-key", Value=API_KEY, Type="SecureString")
    env = {
        "CDC_QUEUE_URL": cdc_aws.queue_url,
        "CDC_DLQ_URL": cdc_aws.dlq_url,
        "PARTNER_URL": "http://partner.test",
        "PARTNER_API_KEY_PARAMETER": "/hookstack/dev/partner/api-key",
        "TRICKLE_MAX_MESSAGES": "10",
        "TRICKLE_RATE_PER_S": "1000",
        "SECRET_CACHE_SECONDS": "300",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    seen: list[dict] = []

    def post(url: str, body: bytes, headers: Mapping[str, str]) -> trickle.PartnerAnswer:
        seen.append(dict(headers))
        return trickle.PartnerAnswer(400 if len(seen) == 1 else 200)

    monkeypatch.setattr(trickle, "post_item", post)
    trickle._trickle.cache_clear()
    parameter_store.ssm_provider.cache_clear()
    try:
        _enqueue(cdc_aws, [("a1", "A"), ("a2", "A")])
        answer = trickle.handler({"detail-type": "Scheduled Event", "source": "aws.events"}, None)
        ssm.put_parameter(Name="/hookstack/dev/partner/api-key", Value="rotated", Type="SecureString", Overwrite=True)
        _enqueue(cdc_aws, [("a3", "A")])
        trickle.handler({"detail-type": "Scheduled Event", "source": "aws.events"}, None)
    finally:
        trickle._trickle.cache_clear()
        parameter_store.ssm_provider.cache_clear()
    assert (answer["delivered"], answer["dead_lettered"]) == (1, 1)
    # Within SECRET_CACHE_SECONDS the cached key is used, not a read per run.
    assert [h["Authorization"] for h in seen] == [f"Bearer {API_KEY}"] * 3
    logged = capsys.readouterr()
    assert API_KEY not in logged.out + logged.err
