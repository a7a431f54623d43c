"""The consumer fleet the load and the jobs drills share: bounded in what it starts, each with its
own log, every process stopped at the end (one that ignores SIGTERM too), and the drill's kill and
the load's count on top of it. Stand-in consumers: sleepers, as the fleet only starts and stops them."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chaos.consumer_fleet import CrashDrillFleet
from loadtests.jobs_consumers import LoadConsumers
from stack.errors import UsageError
from stack.jobs_consumer.fleet import ConsumerFleet, FleetExhausted
from stack.jobs_consumer.process import ConsumerProcess

SLEEPER = "import time; print('consumer up', flush=True); time.sleep(60)"
STUBBORN = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); print('up', flush=True); time.sleep(60)"


def _launcher(code: str, started: list[ConsumerProcess]):
    def launch(log_path: Path) -> ConsumerProcess:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(log_path, "ab") as log:
            child = subprocess.Popen([sys.executable, "-c", code], stdout=log, start_new_session=True)
        process = ConsumerProcess(child.pid, log_path, child)
        started.append(process)
        deadline = time.monotonic() + 10  # up: its SIGTERM handler is set
        while "up" not in log_path.read_text() and time.monotonic() < deadline:
            time.sleep(0.02)
        return process

    return launch


def test_the_fleet_is_bounded_and_stops_every_consumer(tmp_path):
    started: list[ConsumerProcess] = []
    with ConsumerFleet("s", "embedded", tmp_path, max_started=2, launcher=_launcher(SLEEPER, started)) as fleet:
        first, second = fleet.start(), fleet.start()
        with pytest.raises(FleetExhausted):
            fleet.start()
        assert fleet.pids() == {first.pid, second.pid}
    assert fleet.pids() == set() and not any(process.alive() for process in started)
    assert sorted(fleet.log_tails()) == ["consumer-1.log", "consumer-2.log"]


def test_a_consumer_that_ignores_sigterm_is_stopped_all_the_same(tmp_path):
    started: list[ConsumerProcess] = []
    fleet = ConsumerFleet("s", "embedded", tmp_path, stop_grace_s=0.2, launcher=_launcher(STUBBORN, started))
    fleet.start()
    fleet.stop_all()
    assert started[0].wait(5) == -signal.SIGKILL


def test_the_drill_kills_a_consumer_and_counts_it(tmp_path):
    started: list[ConsumerProcess] = []
    with CrashDrillFleet("s", "embedded", tmp_path, launcher=_launcher(SLEEPER, started)) as fleet:
        victim, survivor = fleet.start(), fleet.start()
        fleet.kill(victim.pid)
        assert fleet.killed == [victim.pid] and fleet.pids() == {survivor.pid}
    assert victim.wait(0) == -signal.SIGKILL


def test_the_load_starts_its_count_and_stops_them_on_an_error(tmp_path):
    started: list[ConsumerProcess] = []
    consumers = LoadConsumers("s", "embedded", tmp_path, 3)
    consumers.launcher = _launcher(SLEEPER, started)
    with pytest.raises(RuntimeError), consumers:
        assert consumers.alive() == 3
        raise RuntimeError("the load broke")
    assert len(started) == 3 and not any(process.alive() for process in started)


@pytest.mark.parametrize("count", [0, 17])
def test_the_load_refuses_a_consumer_count_out_of_bounds(tmp_path, count):
    with pytest.raises(UsageError, match="--consumers"):
        LoadConsumers("s", "embedded", tmp_path, count)
