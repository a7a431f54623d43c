"""The partner's fault schedule: outages now and in windows, a seeded error rate, run-time changes."""

from __future__ import annotations

import pytest

from stack.partner.faults import ApiFaults, FaultBoard, FaultError, FaultSettings, startup_faults

S = 1_000_000_000  # ns


def _failures(faults: ApiFaults, count: int) -> list[int]:
    return [index for index in range(count) if faults.decide(0).fail_status is not None]


def test_a_healthy_partner_never_fails():
    faults = ApiFaults("accounting", FaultSettings(), 0)
    decision = faults.decide(5 * S)
    assert decision.fail_status is None and decision.cause is None and decision.latency_s == 0


def test_an_outage_fails_every_request_with_the_status_given():
    faults = ApiFaults("callbacks", FaultSettings(outage=True, status=502, latency_ms=250), 0)
    decisions = [faults.decide(n * S) for n in range(5)]
    assert {(d.fail_status, d.cause) for d in decisions} == {(502, "outage")}
    assert all(d.fails_before_effect and d.latency_s == 0.25 for d in decisions)


def test_outage_windows_count_from_when_the_faults_were_set():
    settings = FaultSettings.model_validate({"outage_windows": [{"start_s": 2, "end_s": 4}]})
    faults = ApiFaults("payments", settings, set_at_ns=10 * S)
    in_outage = {second: faults.decide((10 + second) * S).cause == "outage" for second in range(6)}
    assert in_outage == {0: False, 1: False, 2: True, 3: True, 4: False, 5: False}


def test_an_outage_window_must_end_after_it_starts():
    with pytest.raises(ValueError):
        FaultSettings.model_validate({"outage_windows": [{"start_s": 3, "end_s": 3}]})


def test_the_error_rate_is_drawn_from_a_seeded_rng():
    settings = FaultSettings(error_rate=0.3, seed=7)
    first = _failures(ApiFaults("payments", settings, 0), 1000)
    again = _failures(ApiFaults("payments", settings, 0), 1000)
    other_seed = _failures(ApiFaults("payments", settings.model_copy(update={"seed": 8}), 0), 1000)
    other_api = _failures(ApiFaults("accounting", settings, 0), 1000)
    assert first == again
    assert first != other_seed and first != other_api
    assert 200 < len(first) < 400  # about 30 %, exactly reproducible for this seed


def test_an_injected_error_lands_after_the_effect_only_when_asked():
    before = ApiFaults("accounting", FaultSettings(error_rate=1.0), 0).decide(0)
    after = ApiFaults("accounting", FaultSettings(error_rate=1.0, fail_after_effect=True), 0).decide(0)
    assert before.fails_before_effect and not before.fails_after_effect
    assert after.fails_after_effect and not after.fails_before_effect and after.cause == "error"


def test_the_board_changes_one_api_at_run_time_and_clears_back_to_the_start_up_faults():
    board = FaultBoard({"callbacks": FaultSettings(latency_ms=5)}, 0)
    board.update({"api": "callbacks", "outage": True}, S)
    assert board["callbacks"].settings == FaultSettings(latency_ms=5, outage=True)
    assert board["accounting"].settings == FaultSettings()
    board.update({"api": "callbacks", "clear": True}, 2 * S)
    assert board["callbacks"].settings == FaultSettings(latency_ms=5)
    board.update({"api": "all", "error_rate": 0.5}, 3 * S)
    assert {s.error_rate for s in board.settings().values()} == {0.5}
    board.reset(4 * S)
    assert board["callbacks"].settings == FaultSettings(latency_ms=5)
    assert board["trickle"].settings == FaultSettings()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"api": "ledger", "outage": True}, "api must be one of"),
        ({"api": "callbacks", "rate_limit_per_s": 5}, "trickle API only"),
        ({"api": "all", "burst": 2}, "trickle API only"),
        ({"api": "payments", "error_rate": 1.5}, "error_rate"),
        ({"api": "payments", "outage": True, "latency": 10}, "latency"),
        ({"api": "trickle", "rate_limit_per_s": 0}, "rate_limit_per_s"),
        ({"api": "payments", "status": 200}, "status"),
        ({"api": "payments", "clear": "yes"}, "clear"),
    ],
)
def test_a_change_that_cannot_be_applied_is_refused_and_changes_nothing(change, message):
    board = FaultBoard({}, 0)
    before = board.settings()
    with pytest.raises(FaultError, match=message):
        board.update(change, S)
    assert board.settings() == before


def test_start_up_faults_apply_to_every_api_and_the_rate_limit_to_the_trickle_api():
    faults = startup_faults(latency_ms=20, error_rate=0.1, rate_limit_per_s=5, seed=3)
    assert faults["callbacks"] == FaultSettings(latency_ms=20, error_rate=0.1, seed=3)
    assert faults["trickle"] == FaultSettings(latency_ms=20, error_rate=0.1, seed=3, rate_limit_per_s=5)


def test_a_start_up_fault_out_of_range_names_its_option():
    with pytest.raises(FaultError, match=r"^--error-rate: "):
        startup_faults(error_rate=2)
    with pytest.raises(FaultError, match=r"^--rate-limit: "):
        startup_faults(rate_limit_per_s=-1)
