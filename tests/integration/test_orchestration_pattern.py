"""The orchestration pattern end to end on the embedded target, with the partner simulator as the
accounting and payment APIs: invoices through the deployed API, the queue, the starter and one
Step Functions execution each — to SUCCEEDED booked once, or, with the payment API down, to a
compensation, the dead letters and, after the fix, a replay that still books once."""

from __future__ import annotations

import json
import os
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from handlers.invoices.store import InvoiceStore
from stack.clients.webhook_client import ApiClient
from stack.config import load_config
from stack.deploy.outputs import StackOutputs, tenant_token
from stack.ops.invoices import list_invoice_dead_letters, replay_invoices
from stack.partner.process import PartnerProcess, running_partner
from tests.helpers.private_stage import private_stage

pytestmark = pytest.mark.integration

STAGE = "orch"
PATTERN = "orchestration"
# 200 at once: the steps' reserved concurrency throttles the burst, their Retry drains it.
# HOOKSTACK_TEST_INVOICES changes it (fewer on a machine too loaded for 200 in WAIT_S).
INVOICES = int(os.environ.get("HOOKSTACK_TEST_INVOICES", "200"))
WAIT_S = 300.0  # upper bound of any wait for invoices to reach their final status
JSON = {"Content-Type": "application/json"}


@pytest.fixture(scope="module")
def partner() -> Iterator[PartnerProcess]:
    with running_partner() as process:
        yield process


@pytest.fixture(scope="module")
def stage(tmp_path_factory, partner) -> Iterator[StackOutputs]:
    config = load_config(stage=STAGE, patterns=[PATTERN], partner_url=partner.url)
    with private_stage(tmp_path_factory, config) as (outputs, _):
        yield outputs


@pytest.fixture(scope="module")
def api(stage) -> Iterator[ApiClient]:
    client = ApiClient(stage.api_url, tenant_token(stage))
    yield client
    client.close()


def _invoice(payment: str = "card", reference: str | None = None) -> dict:
    lines = [
        {"description": "consulting", "quantity": 3, "unit_amount": 12_000, "tax_rate_bp": 2000},
        {"description": "travel", "quantity": 1, "unit_amount": 4_550},
    ]
    return {
        "reference": reference or f"INV-{uuid.uuid4().hex[:12]}",
        "customer": "c-42",
        "currency": "eur",
        "amount": 3 * 12_000 + 7_200 + 4_550,
        "payment": payment,
        "lines": lines,
    }


def _submit(api: ApiClient, invoice: dict):
    return api.request("POST", "/invoices", json.dumps(invoice).encode(), JSON)


def _submit_all(stage: StackOutputs, invoices: list[dict]) -> list[str]:
    token = tenant_token(stage)

    def one(invoice: dict) -> str:
        client = ApiClient(stage.api_url, token, timeout=35)
        try:
            answer = _submit(client, invoice)
            assert answer.status == 202, answer.json()
            return str(answer.json()["id"])
        finally:
            client.close()

    with ThreadPoolExecutor(max_workers=4) as pool:
        return list(pool.map(one, invoices))


def _final(api: ApiClient, invoice_ids: list[str]) -> dict[str, dict]:
    deadline = time.monotonic() + WAIT_S
    documents: dict[str, dict] = {}
    while time.monotonic() < deadline:
        for invoice_id in invoice_ids:
            if documents.get(invoice_id, {}).get("status") not in ("SUCCEEDED", "FAILED"):
                documents[invoice_id] = api.request("GET", f"/invoices/{invoice_id}").json()
        if all(documents[i]["status"] in ("SUCCEEDED", "FAILED") for i in invoice_ids):
            return documents
        time.sleep(1.0)
    unfinished = {i: d.get("status") for i, d in documents.items() if d.get("status") not in ("SUCCEEDED", "FAILED")}
    raise AssertionError(f"{len(unfinished)} invoice(s) not final within {WAIT_S} s: {unfinished}")


def _bookings(partner: PartnerProcess) -> Counter[str]:
    return Counter(str(booking.invoice.get("invoice_id")) for booking in partner.client.accounting().bookings)


def test_a_body_failing_the_schema_is_400_at_the_gateway(api):
    for body in (b"{}", json.dumps({**_invoice(), "payment": "cash"}).encode()):
        answer = api.request("POST", "/invoices", body, JSON)
        assert (answer.status, answer.json()) == (400, {"message": "Invalid request body"})


def test_domain_refusals_and_the_tenant_scoped_404(api):
    wrong_total = {**_invoice(), "amount": 1}
    answer = _submit(api, wrong_total)
    assert answer.status == 400 and "gross total" in answer.json()["message"]
    first = _submit(api, _invoice(reference="INV-dup"))
    duplicate = _submit(api, _invoice(reference="INV-dup"))
    assert first.status == 202 and duplicate.status == 409
    assert duplicate.json()["id"] == first.json()["id"]
    assert api.request("GET", "/invoices/inv_" + "0" * 32).status == 404


def test_every_invoice_succeeds_booked_once_and_card_invoices_charged_once(stage, api, partner):
    invoices = [_invoice("card" if n % 2 == 0 else "transfer") for n in range(INVOICES)]
    started = time.monotonic()
    invoice_ids = _submit_all(stage, invoices)
    documents = _final(api, invoice_ids)
    print(f"{INVOICES} invoices final {time.monotonic() - started:.1f} s after the first submission")
    assert {d["status"] for d in documents.values()} == {"SUCCEEDED"}, documents
    bookings = _bookings(partner)
    assert all(bookings[invoice_id] == 1 for invoice_id in invoice_ids), bookings
    charges = Counter(c.reference for c in partner.client.payments().charges)
    for invoice, invoice_id in zip(invoices, invoice_ids, strict=True):
        document = documents[invoice_id]
        assert document["totals"] == {"net": 40_550, "tax": 7_200, "gross": 47_750}
        assert document["booking_id"] and [s["step"] for s in document["steps"]][-1] == "completed"
        assert charges[invoice["reference"]] == (1 if invoice["payment"] == "card" else 0)
        assert (document["charge_id"] is not None) == (invoice["payment"] == "card")


def test_a_payment_outage_compensates_dead_letters_and_a_replay_succeeds_still_booked_once(stage, api, partner):
    store = InvoiceStore(stage.client("dynamodb"), stage.resource("InvoicesTable", PATTERN))
    sqs = stage.client("sqs")
    dead_letters = stage.resource("InvoiceDeadLettersQueueUrl", PATTERN)
    partner.client.set_faults("payments", outage=True)
    try:
        invoice_ids = _submit_all(stage, [_invoice("card") for _ in range(3)])
        failed = _final(api, invoice_ids)
    finally:
        partner.client.clear_faults("payments")
    for invoice_id in invoice_ids:
        document = failed[invoice_id]
        assert document["status"] == "FAILED" and document["reason"].startswith("PaymentUnavailable: ")
        assert document["booking_id"] and "kept" in document["compensation"]
        assert [s["step"] for s in document["steps"]][-1] == "compensated"
    letters = {letter.invoice_id: letter for letter in list_invoice_dead_letters(sqs, dead_letters)}
    assert set(invoice_ids) <= set(letters)
    assert all(letters[i].reason == failed[i]["reason"] for i in invoice_ids)
    payment_requests = [r for r in partner.client.payments().requests if r.fault == "outage"]
    assert len(payment_requests) >= 3 * 4  # each charge tried once and retried 3 times

    result = replay_invoices(
        sqs, store, dead_letters, stage.resource("InvoicesQueueUrl", PATTERN), invoice_ids=invoice_ids
    )
    assert sorted(result.replayed) == sorted(invoice_ids) and not result.errors
    replayed = _final(api, invoice_ids)
    assert {replayed[i]["status"] for i in invoice_ids} == {"SUCCEEDED"}
    assert all(replayed[i]["round"] == 1 and replayed[i]["booking_id"] == failed[i]["booking_id"] for i in invoice_ids)
    bookings = _bookings(partner)
    assert all(bookings[i] == 1 for i in invoice_ids), bookings
    assert not [letter for letter in list_invoice_dead_letters(sqs, dead_letters) if letter.invoice_id in invoice_ids]
