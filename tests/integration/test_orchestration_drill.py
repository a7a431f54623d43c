"""The accounting-outage drill on the embedded target, against a partner simulator of its own: it
PASSES on the orchestration stage as built (the booking keyed by the invoice id), and FAILS on the
stage deploying the unkeyed booking step — for the reason it exists: invoices booked more than once."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from chaos.accounting_outage import ATTEMPTS, run_accounting_outage
from chaos.context import DrillSettings
from chaos.runner import DrillResult
from chaos.stage import fresh_embedded_stack, orchestration_drill_config
from stack.partner.process import PartnerProcess, running_partner

pytestmark = pytest.mark.integration

INVOICES = 6
MAX_SECONDS = 300.0  # the drill's own bound on its waits


@pytest.fixture(scope="module")
def partner() -> Iterator[PartnerProcess]:
    with running_partner() as process:
        yield process


def _drill(partner: PartnerProcess, *, unkeyed_booking: bool) -> DrillResult:
    partner.client.reset()
    config = orchestration_drill_config(partner.url, stage="drillinv", unkeyed_booking=unkeyed_booking)
    sabotage = "unkeyed-booking" if unkeyed_booking else None
    with fresh_embedded_stack(config) as outputs:
        return run_accounting_outage(
            outputs, DrillSettings(events=INVOICES, max_seconds=MAX_SECONDS, sabotage=sabotage)
        )


def _fault_checks(result: DrillResult) -> dict[str, bool]:
    return {check["name"]: check["ok"] for check in result.checks}


def test_the_drill_passes_every_invoice_booked_once_after_compensation_and_replay(partner):
    result = _drill(partner, unkeyed_booking=False)
    assert result.verdict == "PASS", result.failures
    assert result.counts["acked"] == result.counts["processed"] == INVOICES
    assert result.counts["duplicates_applied"] == result.counts["lost"] == result.counts["dead_lettered"] == 0
    assert all(_fault_checks(result).values()) and len(result.checks) == 2, result.checks
    bookings = partner.client.accounting().bookings
    assert len(bookings) == INVOICES  # once each, the outage's lost answers and the replay included
    assert sum(booking.requests for booking in bookings) >= INVOICES * (ATTEMPTS + 1)


def test_the_drill_fails_on_the_unkeyed_booking_step(partner):
    result = _drill(partner, unkeyed_booking=True)
    assert result.verdict == "FAIL"
    assert all(_fault_checks(result).values()), result.checks  # the fault fired: it fails on the bookings
    assert result.counts["duplicates_applied"] == INVOICES, result.counts
    assert any("booked" in failure and "times at the accounting API" in failure for failure in result.failures)
    assert len(partner.client.accounting().bookings) > INVOICES
