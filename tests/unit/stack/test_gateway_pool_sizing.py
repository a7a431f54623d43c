"""The pool size limit of a function without reserved concurrency, from its measured wait share."""

from __future__ import annotations

from stack.embedded.gateway.pool_sizing import LOCAL_MAX_ENVIRONMENTS, WaitShareSizer


def test_cpu_bound_default_before_any_measurement():
    sizer = WaitShareSizer(cores=2)
    assert sizer.wait_share is None
    assert sizer.limit() == 4


def test_a_function_that_computes_keeps_cores_plus_two():
    sizer = WaitShareSizer(cores=2)
    for _ in range(100):
        sizer.record(duration_ms=20.0, cpu_ms=19.0)
    assert sizer.limit() == 4


def test_a_function_that_mostly_waits_grows_to_cores_over_its_busy_share():
    sizer = WaitShareSizer(cores=2)
    for _ in range(200):
        sizer.record(duration_ms=80.0, cpu_ms=16.0)  # waits 80 % of its time
    assert sizer.wait_share is not None and abs(sizer.wait_share - 0.8) < 1e-9
    assert sizer.limit() == 10  # 2 cores / 0.2 busy


def test_never_beyond_the_local_ceiling():
    sizer = WaitShareSizer(cores=2)
    for _ in range(200):
        sizer.record(duration_ms=100.0, cpu_ms=0.0)
    assert sizer.limit() == LOCAL_MAX_ENVIRONMENTS


def test_follows_the_function_when_its_waits_change():
    sizer = WaitShareSizer(cores=2)
    for _ in range(200):
        sizer.record(duration_ms=100.0, cpu_ms=5.0)
    assert sizer.limit() == LOCAL_MAX_ENVIRONMENTS
    for _ in range(500):
        sizer.record(duration_ms=10.0, cpu_ms=10.0)
    assert sizer.limit() == 4


def test_unreported_or_odd_samples_are_ignored():
    sizer = WaitShareSizer(cores=2)
    sizer.record(duration_ms=500.0, cpu_ms=None)
    sizer.record(duration_ms=0.0, cpu_ms=1.0)
    sizer.record(duration_ms=500.0, cpu_ms=-1.0)
    assert sizer.wait_share is None
    sizer.record(duration_ms=500.0, cpu_ms=900.0)  # threads: more CPU than wall time, no wait
    assert sizer.wait_share == 0.0


def test_time_waiting_for_a_cpu_is_not_io():
    sizer = WaitShareSizer(cores=2)
    for _ in range(200):
        sizer.record(duration_ms=100.0, cpu_ms=10.0, cpu_wait_ms=85.0)  # a saturated machine
    assert sizer.limit() == 4
    starved_unknown = WaitShareSizer(cores=2)
    for _ in range(200):
        starved_unknown.record(duration_ms=100.0, cpu_ms=10.0, cpu_wait_ms=None)
    assert starved_unknown.limit() == 16
