"""The orchestration pattern's functions against moto (DynamoDB, SQS, SNS), with fakes for Step
Functions and the third-party APIs: intake, starter, the steps, the compensation, the replay."""

from __future__ import annotations

import json

import boto3
import pytest
from jsonschema import Draft4Validator
from pydantic import ValidationError

from handlers.invoices import booking, completion, intake, starter
from handlers.invoices.compensation import ATTR_REASON, Compensation, failure_reason
from handlers.invoices.contract import (
    INVOICE_SUBMISSION_SCHEMA,
    AccountingUnavailable,
    InvoiceMessage,
    InvoiceStatus,
    InvoiceSubmission,
    Totals,
    execution_name,
    invoice_totals,
)
from handlers.invoices.partner_api import PartnerAnswer
from handlers.invoices.settings import InvoiceIntakeSettings
from handlers.invoices.steps import execution_invoice
from handlers.invoices.store import InvoiceStore, StaleRound, reference_key
from handlers.notifications.contract import NotificationPublisher
from stack.ops.invoices import replay_invoices
from tests.helpers.moto_aws import create_id_table, moto_account

REGION = "us-east-1"
TABLE = "invoices"


@pytest.fixture
def aws(monkeypatch):
    with moto_account(monkeypatch):
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        create_id_table(dynamodb, TABLE)
        sqs = boto3.client("sqs", region_name=REGION)
        queue_url = sqs.create_queue(QueueName="invoices")["QueueUrl"]
        dead_letters_url = sqs.create_queue(QueueName="invoice-dead-letters")["QueueUrl"]
        yield type(
            "Aws",
            (),
            {
                "dynamodb": dynamodb,
                "sqs": sqs,
                "queue_url": queue_url,
                "dead_letters_url": dead_letters_url,
                "store": InvoiceStore(dynamodb, TABLE),
            },
        )


def _submission(reference: str = "INV-1", **changes) -> dict:
    document = {
        "reference": reference,
        "customer": "c-1",
        "currency": "eur",
        "amount": 2 * 1000 + 400 + 500,
        "payment": "card",
        "lines": [
            {"description": "widget", "quantity": 2, "unit_amount": 1000, "tax_rate_bp": 2000},
            {"description": "shipping", "quantity": 1, "unit_amount": 500},
        ],
    }
    return {**document, **changes}


def _event(body: dict | str, tenant: str = "acme") -> dict:
    return {
        "body": body if isinstance(body, str) else json.dumps(body),
        "headers": {"Host": "127.0.0.1:8080", "X-Forwarded-Proto": "http"},
        "requestContext": {"path": "/dev/invoices", "authorizer": {"tenant": tenant}},
    }


def _intake(aws, sqs=None) -> intake.InvoiceIntake:
    settings = InvoiceIntakeSettings(invoices_table=TABLE, invoices_queue_url=aws.queue_url, max_body_bytes=1 << 20)
    return intake.InvoiceIntake(settings, aws.store, sqs or aws.sqs)


def _answer(response: dict) -> tuple[int, dict]:
    return response["statusCode"], json.loads(response["body"])


def _accepted(aws, **changes) -> InvoiceMessage:
    status, body = _answer(intake.handle(_intake(aws), _event(_submission(**changes))))
    assert status == 202, body
    messages = aws.sqs.receive_message(QueueUrl=aws.queue_url, MaxNumberOfMessages=10)["Messages"]
    (message,) = [InvoiceMessage.model_validate_json(m["Body"]) for m in messages if body["id"] in m["Body"]]
    return message


# --- the contract ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "document",
    [
        _submission(),
        _submission(payment="transfer"),
        {k: v for k, v in _submission().items() if k != "lines"},
        _submission(extra=1),
        _submission(payment="cash"),
        _submission(amount=0),
        _submission(currency="EUR"),
        _submission(lines=[]),
        _submission(lines=[{"description": "x", "quantity": 1, "unit_amount": 1, "tax_rate_bp": 10_001}]),
        _submission(lines=[{"description": "", "quantity": 1, "unit_amount": 1}]),
    ],
)
def test_the_gateway_model_and_the_dto_accept_the_same_documents(document):
    schema_ok = Draft4Validator(INVOICE_SUBMISSION_SCHEMA).is_valid(document)
    try:
        InvoiceSubmission.model_validate(document)
        dto_ok = True
    except ValidationError:
        dto_ok = False
    assert schema_ok == dto_ok


def test_totals_round_each_lines_tax_half_up():
    lines = InvoiceSubmission.model_validate(
        _submission(lines=[{"description": "a", "quantity": 1, "unit_amount": 5, "tax_rate_bp": 1000}])
    ).lines
    assert invoice_totals(lines) == Totals(net=5, tax=1, gross=6)  # 0.5 → 1


def test_an_execution_name_is_one_per_invoice_and_round_within_the_limits():
    name = execution_name("a" * 32, "inv_" + "f" * 32, 999)
    assert len(name) <= 80 and name != execution_name("a" * 32, "inv_" + "f" * 32, 1000)


# --- intake ------------------------------------------------------------------------------------


def test_an_invoice_is_recorded_received_with_its_claim_and_queued(aws):
    message = _accepted(aws)
    item = aws.store.get(message.invoice_id)
    assert item["status"] == InvoiceStatus.RECEIVED and item["round"] == 0 and item["tenant"] == "acme"
    assert aws.store.reference_holder("acme", "INV-1") == message.invoice_id
    assert message.amount == 2900 and message.round == 0


def test_a_reference_twice_is_409_naming_the_invoice_and_another_tenant_may_use_it(aws):
    first = _accepted(aws)
    status, body = _answer(intake.handle(_intake(aws), _event(_submission())))
    assert status == 409 and body["id"] == first.invoice_id
    assert _answer(intake.handle(_intake(aws), _event(_submission(), tenant="other")))[0] == 202


def test_an_amount_that_is_not_the_lines_total_is_400_and_nothing_is_written(aws):
    status, body = _answer(intake.handle(_intake(aws), _event(_submission(amount=1))))
    assert status == 400 and body["message"] == "amount 1 is not the lines' gross total 2900"
    assert aws.dynamodb.scan(TableName=TABLE)["Items"] == []


def test_a_failed_send_takes_the_invoice_back_and_answers_503(aws):
    class BrokenSqs:
        def send_message(self, **_):
            raise RuntimeError("queue down")

    status, body = _answer(intake.handle(_intake(aws, sqs=BrokenSqs()), _event(_submission())))
    assert status == 503 and body["message"] == "invoices queue unavailable: RuntimeError"
    assert aws.dynamodb.scan(TableName=TABLE)["Items"] == []


# --- starter -----------------------------------------------------------------------------------

MACHINE = "arn:aws:states:us-east-1:000000000000:stateMachine:invoices"


class AlreadyExists(Exception):
    response = {"Error": {"Code": "ExecutionAlreadyExists", "Message": "exists"}}


class FakeStepFunctions:
    """Start once per name, as Step Functions does; ``failing`` names raise a service error."""

    def __init__(self, failing: set[str] = frozenset()):  # type: ignore[assignment]
        self.started: dict[str, str] = {}
        self.calls = 0
        self.failing = failing

    def start_execution(self, stateMachineArn: str, name: str, input: str) -> dict:
        self.calls += 1
        if name in self.failing:
            raise RuntimeError("throttled")
        if name in self.started:
            raise AlreadyExists()
        self.started[name] = input
        return {"executionArn": starter.execution_arn(stateMachineArn, name)}


def _records(messages: list[InvoiceMessage], bodies: list[str] = ()) -> dict:  # type: ignore[assignment]
    texts = [m.model_dump_json() for m in messages] + list(bodies)
    return {
        "Records": [
            {
                "messageId": f"m{index}",
                "receiptHandle": f"r{index}",
                "body": text,
                "attributes": {"ApproximateReceiveCount": "1"},
                "messageAttributes": {},
                "eventSource": "aws:sqs",
                "eventSourceARN": "arn:aws:sqs:us-east-1:000000000000:invoices",
            }
            for index, text in enumerate(texts)
        ]
    }


def test_a_redelivered_message_never_starts_a_second_execution(aws):
    message = _accepted(aws)
    fake = FakeStepFunctions()
    start = starter.InvoiceStarter(fake, MACHINE, aws.store)
    assert start.handle(_records([message]), None) == {"batchItemFailures": []}
    assert start.handle(_records([message]), None) == {"batchItemFailures": []}
    name = execution_name("acme", message.invoice_id, 0)
    assert list(fake.started) == [name] and fake.calls == 2
    expected_arn = f"arn:aws:states:us-east-1:000000000000:execution:invoices:{name}"
    assert aws.store.get(message.invoice_id)["execution_arn"] == expected_arn
    # A replay's round is a new execution.
    start.handle(_records([message.model_copy(update={"round": 1})]), None)
    assert len(fake.started) == 2


def test_a_failed_start_or_a_malformed_message_fails_its_record_only(aws):
    good, bad = _accepted(aws), _accepted(aws, reference="INV-2")
    fake = FakeStepFunctions(failing={execution_name("acme", bad.invoice_id, 0)})
    answer = starter.InvoiceStarter(fake, MACHINE, aws.store).handle(_records([good, bad], ["not json"]), None)
    assert answer == {"batchItemFailures": [{"itemIdentifier": "m1"}, {"itemIdentifier": "m2"}]}
    assert list(fake.started) == [execution_name("acme", good.invoice_id, 0)]


# --- the steps ---------------------------------------------------------------------------------


class FakePartner:
    """The accounting and payment APIs, idempotent by key as the real ones are."""

    def __init__(self):
        self.bookings: dict[str, dict] = {}
        self.charges: dict[str, str] = {}
        self.refunds: dict[str, str] = {}
        self.booking_requests = 0

    def book(self, key: str, invoice: dict) -> PartnerAnswer:
        self.booking_requests += 1
        replayed = key in self.bookings
        self.bookings.setdefault(key, invoice)
        return PartnerAnswer(201, {"booking_id": f"bk_{key}"}, replayed)

    def charge(self, key: str, amount: int, currency: str, reference: str) -> PartnerAnswer:
        self.charges.setdefault(key, f"ch_{len(self.charges) + 1}")
        return PartnerAnswer(201, {"charge_id": self.charges[key]}, False)

    def refund(self, key: str, charge_id: str) -> PartnerAnswer:
        self.refunds.setdefault(key, charge_id)
        return PartnerAnswer(201, {"refund_id": f"re_{charge_id}"}, False)


def _totals(message: InvoiceMessage) -> Totals:
    return invoice_totals(message.lines)


def test_the_step_state_carries_the_invoice_beside_what_the_steps_added(aws):
    message = _accepted(aws)
    state = {**json.loads(message.model_dump_json()), "totals": {"net": 1}, "error": {"Error": "X"}}
    assert execution_invoice(state) == message


def test_a_retried_booking_presents_the_same_key_and_body_and_books_once(aws):
    message = _accepted(aws)
    partner = FakePartner()
    for _ in range(3):
        assert booking.book(partner, aws.store, message, _totals(message), booking.booking_key) == {  # type: ignore[arg-type]
            "booking_id": f"bk_{message.invoice_id}"
        }
    assert list(partner.bookings) == [message.invoice_id] and partner.booking_requests == 3
    item = aws.store.get(message.invoice_id)
    assert [s["step"] for s in item["steps"]] == ["booked"] * 3
    assert "idempotency store" in item["steps"][-1]["detail"]


def test_a_step_of_an_earlier_round_changes_nothing(aws):
    message = _accepted(aws)
    with pytest.raises(StaleRound):
        aws.store.record_step(message.invoice_id, 1, "saved", status=InvoiceStatus.RUNNING)
    assert aws.store.get(message.invoice_id)["status"] == InvoiceStatus.RECEIVED


def test_completion_publishes_then_marks_succeeded(aws):
    message = _accepted(aws)
    sns = boto3.client("sns", region_name=REGION)
    topic = sns.create_topic(Name="completions")["TopicArn"]
    queue_url = aws.sqs.create_queue(QueueName="completed")["QueueUrl"]
    queue_arn = aws.sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    answer = completion.complete(aws.store, NotificationPublisher(sns, topic), message, _totals(message))
    assert aws.store.get(message.invoice_id)["status"] == InvoiceStatus.SUCCEEDED
    (published,) = aws.sqs.receive_message(QueueUrl=queue_url)["Messages"]
    body = json.loads(published["Body"])
    assert body["type"] == "invoice.completed" and body["data"]["id"] == message.invoice_id
    assert answer["notification"].startswith("msg_")


def _error(name: str, message: str) -> dict:
    return {"Error": name, "Cause": json.dumps({"errorType": name, "errorMessage": message, "trace": []})}


def test_compensation_refunds_the_charge_keeps_the_booking_fails_the_invoice_and_dead_letters_it(aws):
    message = _accepted(aws)
    partner = FakePartner()
    booking.book(partner, aws.store, message, _totals(message), booking.booking_key)  # type: ignore[arg-type]
    aws.store.record_step(message.invoice_id, 0, "charged", sets={"charge_id": "ch_9"})
    compensation = Compensation(partner, aws.store, aws.sqs, aws.dead_letters_url)  # type: ignore[arg-type]
    error = _error(AccountingUnavailable.__name__, "POST /accounting/invoices: 503 injected outage")
    for _ in range(2):  # a retried compensation refunds once
        compensation.compensate(message, error)
    assert partner.refunds == {"refund:ch_9": "ch_9"}
    item = aws.store.get(message.invoice_id)
    assert item["status"] == InvoiceStatus.FAILED and item["refund_id"] == "re_ch_9"
    assert item["reason"] == "AccountingUnavailable: POST /accounting/invoices: 503 injected outage"
    assert "refunded ch_9" in item["compensation"] and "kept" in item["compensation"]
    letters = aws.sqs.receive_message(
        QueueUrl=aws.dead_letters_url, MaxNumberOfMessages=10, MessageAttributeNames=["All"]
    )
    (first, *_) = letters["Messages"]
    assert first["MessageAttributes"][ATTR_REASON]["StringValue"] == item["reason"]
    assert InvoiceMessage.model_validate_json(first["Body"]) == message


def test_a_cause_that_is_not_json_is_the_reason_as_it_is():
    assert failure_reason({"Error": "States.Timeout", "Cause": "took too long"}) == (
        "States.Timeout",
        "States.Timeout: took too long",
    )
    assert failure_reason(None) == ("States.Unknown", "States.Unknown")


# --- replay ------------------------------------------------------------------------------------


def test_a_replay_moves_the_invoice_to_the_next_round_once_even_from_two_copies(aws):
    message = _accepted(aws)
    aws.sqs.purge_queue(QueueUrl=aws.queue_url)  # the first round's message, consumed
    aws.store.record_step(message.invoice_id, 0, "charged", sets={"charge_id": "ch_1"})
    compensation = Compensation(FakePartner(), aws.store, aws.sqs, aws.dead_letters_url)  # type: ignore[arg-type]
    compensation.compensate(message, _error("PaymentUnavailable", "down"))
    compensation.compensate(message, _error("PaymentUnavailable", "down"))  # a retried compensation: two copies
    result = replay_invoices(aws.sqs, aws.store, aws.dead_letters_url, aws.queue_url)
    # The second copy finds the invoice REPLAYED into round 1 (as after a replay interrupted
    # before its send) and sends round 1 again: the same execution name, started once.
    assert result.replayed == [message.invoice_id] * 2 and not result.stale and not result.errors
    item = aws.store.get(message.invoice_id)
    assert item["status"] == InvoiceStatus.REPLAYED and item["round"] == 1
    assert "charge_id" not in item and "reason" not in item  # the new round charges anew
    queued = aws.sqs.receive_message(QueueUrl=aws.queue_url, MaxNumberOfMessages=10)["Messages"]
    rounds = [InvoiceMessage.model_validate_json(m["Body"]) for m in queued]
    assert {execution_name(m.tenant, m.invoice_id, m.round) for m in rounds} == {
        execution_name("acme", message.invoice_id, 1)
    }
    assert aws.sqs.receive_message(QueueUrl=aws.dead_letters_url).get("Messages") is None
    # Once the new round is under way, a dead letter of the old one is stale: deleted, not sent.
    aws.store.record_step(message.invoice_id, 1, "saved", status=InvoiceStatus.RUNNING)
    aws.sqs.send_message(QueueUrl=aws.dead_letters_url, MessageBody=message.model_dump_json())
    late = replay_invoices(aws.sqs, aws.store, aws.dead_letters_url, aws.queue_url)
    assert late.stale == [message.invoice_id] and not late.replayed


def test_a_replay_of_named_invoices_leaves_the_others(aws):
    first, second = _accepted(aws), _accepted(aws, reference="INV-2")
    compensation = Compensation(FakePartner(), aws.store, aws.sqs, aws.dead_letters_url)  # type: ignore[arg-type]
    for message in (first, second):
        compensation.compensate(message, _error("PaymentUnavailable", "down"))
    result = replay_invoices(aws.sqs, aws.store, aws.dead_letters_url, aws.queue_url, invoice_ids=[second.invoice_id])
    assert result.replayed == [second.invoice_id] and result.skipped == [first.invoice_id]
    assert aws.store.get(first.invoice_id)["status"] == InvoiceStatus.FAILED


def test_reference_claims_are_scoped_per_tenant():
    assert reference_key("a", "r") != reference_key("b", "r")
