"""A day with hookstack, as a user types it: `up` in the project, `up` again from a subdirectory
(the endpoint stays where it was), send, wait for the final status, make a dead letter by hand,
repeat a delivery id, and `down` from a subdirectory, leaving no process behind.

Every command goes through the `hookstack` command line in a child process, in a project
directory of its own and without HOOKSTACK_HOME: the state is found as a user's would be.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from stack.embedded.processes import pid_alive

pytestmark = pytest.mark.integration

STEP_TIMEOUT_S = 300


class Session:
    def __init__(self, project: Path):
        self.project = project
        self.env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("HOOKSTACK_HOME", "HOOKSTACK_CONFIG", "HOOKSTACK_STAGE", "HOOKSTACK_REGION")
        }
        self.env["COLUMNS"] = "80"  # as in a CI log
        self.pids: set[int] = set()

    def run(self, *args: str, cwd: str = ".", ok: bool = True) -> subprocess.CompletedProcess:
        result = subprocess.run(
            [sys.executable, "-m", "stack.cli", *args],
            cwd=self.project / cwd,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=STEP_TIMEOUT_S,
            stdin=subprocess.DEVNULL,
        )
        self.note_pids()
        if ok:
            assert result.returncode == 0, f"hookstack {' '.join(args)}:\n{result.stdout}\n{result.stderr}"
        return result

    def json(self, *args: str, cwd: str = ".") -> dict:
        return json.loads(self.run(*args, "--json", cwd=cwd).stdout)

    def state(self, name: str) -> dict:
        return json.loads((self.project / ".hookstack" / "embedded" / name).read_text())

    def note_pids(self) -> None:
        for name in ("emulator.json", "gateway-dev.json"):
            path = self.project / ".hookstack" / "embedded" / name
            if path.exists():
                self.pids.add(json.loads(path.read_text())["pid"])


def one_error_line(result: subprocess.CompletedProcess) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
    assert lines and lines[-1].startswith("error: ") and sum(line.startswith("error: ") for line in lines) == 1
    return lines[-1]


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    project = tmp_path_factory.mktemp("project")
    (project / "loadtests" / "scenarios").mkdir(parents=True)
    session = Session(project)
    try:
        yield session
    finally:
        session.run("down", cwd="loadtests", ok=False)


def test_a_day_with_hookstack(session):
    first = session.json("up")
    endpoint = first["outputs"]["api_url"]
    first_gateway = session.state("gateway-dev.json")["pid"]

    # A second `up`, from a subdirectory: redeployed in place, the endpoint has not moved.
    again = session.json("up", cwd="loadtests")
    assert again["outputs"]["api_url"] == endpoint
    assert again["redeployed"] is True
    assert session.state("gateway-dev.json")["pid"] != first_gateway  # restarted, on the same port
    assert not (session.project / "loadtests" / ".hookstack").exists()

    sent = session.json("send", cwd="loadtests/scenarios")
    assert sent["status"] == 202 and sent["status_url"].startswith(endpoint)
    final = session.json("status", sent["id"], "--wait", "--timeout", "90", cwd="loadtests")
    assert final["status"] == "PROCESSED"

    # Stripe without --topic: the provider's own topic, processed.
    stripe = session.json("send", "--provider", "stripe", cwd="loadtests")
    assert stripe["topic"] == "payment_intent.succeeded"
    assert session.json("status", stripe["id"], "--wait", "--timeout", "90")["status"] == "PROCESSED"

    # The same delivery id twice is one event.
    once = session.json("send", "--delivery-id", "daily-session-1")
    twice = session.json("send", "--delivery-id", "daily-session-1")
    assert once["id"] == twice["id"] and once["delivery_id"] == "daily-session-1"

    # A dead letter by hand, listed with its id whole at 80 columns.
    invalid = session.json("send", "--invalid", cwd="loadtests")
    dead = session.json("status", invalid["id"], "--wait", "--timeout", "90", cwd="loadtests")
    assert dead["status"] == "DEAD_LETTERED" and dead["dead_letter_kind"] == "permanent"
    listed = session.run("dlq", "list", cwd="loadtests").stdout.splitlines()
    assert any(line.startswith(invalid["id"] + " ") for line in listed), listed
    outputs = session.json("outputs", cwd="loadtests")
    printed = session.run("outputs", cwd="loadtests").stdout.splitlines()
    assert any(line.endswith(outputs["resources"]["QueueUrl"]) for line in printed), printed
    assert outputs["api_url"] == endpoint


def test_demo_on_a_running_stack_keeps_it_and_its_endpoint(session):
    endpoint = session.json("outputs")["api_url"]
    demo = session.run("demo", "--events", "6", "--warmup", "0", "--poison", "1", cwd="loadtests")
    assert endpoint in demo.stderr  # `up … : <endpoint>` as the demo redeployed
    assert session.json("outputs", cwd="loadtests")["api_url"] == endpoint
    assert session.json("send")["status"] == 202  # left running, as the README says


# What a user's own script does after `eval "$(hookstack env)"`: boto3 and plain HTTP, nothing else.
PLAIN_SCRIPT = """
import json, os, urllib.request
import boto3
sqs = boto3.client("sqs")  # endpoint, region and credentials from the environment only
attributes = sqs.get_queue_attributes(QueueUrl=os.environ["HOOKSTACK_QUEUE_URL"], AttributeNames=["FifoQueue"])
event_id = os.environ["EVENT_ID"]
request = urllib.request.Request(
    os.environ["HOOKSTACK_API_URL"] + "/events/" + event_id,
    headers={os.environ["HOOKSTACK_TOKEN_HEADER"]: os.environ["HOOKSTACK_TOKEN"]},
)
with urllib.request.urlopen(request, timeout=30) as answer:
    status = json.load(answer)["status"]
print(json.dumps({"fifo": attributes["Attributes"]["FifoQueue"], "status": status,
                  "secret": bool(os.environ["HOOKSTACK_SHOPIFY_SECRET"])}))
"""


def test_env_gives_plain_scripts_the_stage(session):
    event_id = session.json("send")["id"]
    session.json("status", event_id, "--wait", "--timeout", "90")
    env = {k: v for k, v in session.env.items() if not k.startswith("AWS_")}
    env["EVENT_ID"] = event_id
    shell = 'eval "$("$0" -m stack.cli env)" && exec "$0" -c "$1"'
    result = subprocess.run(
        ["sh", "-c", shell, sys.executable, PLAIN_SCRIPT],
        cwd=session.project / "loadtests",
        env=env,
        capture_output=True,
        text=True,
        timeout=STEP_TIMEOUT_S,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"fifo": "true", "status": "PROCESSED", "secret": True}


def test_a_taken_gateway_port_is_one_line_and_the_stack_keeps_its_endpoint(session):
    endpoint = session.json("outputs")["api_url"]
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        line = one_error_line(session.run("up", "--gateway-port", str(port), cwd="loadtests", ok=False))
    assert f"gateway port {port}" in line and "taken" in line
    assert session.json("outputs", cwd="loadtests")["api_url"] == endpoint
    assert session.json("send")["status"] == 202


def test_a_dead_emulator_is_one_line_then_down_from_a_subdirectory_leaves_nothing(session):
    emulator = session.state("emulator.json")["pid"]
    os.kill(emulator, signal.SIGKILL)  # the emulator this session started
    line = one_error_line(session.run("send", cwd="loadtests", ok=False))
    # "not running" once its process is gone; "nothing answers at …" while it is an unreaped zombie.
    assert "hookstack up" in line

    down = session.run("down", cwd="loadtests/scenarios")
    assert "stopped" in down.stderr
    assert session.pids and not [pid for pid in session.pids if pid_alive(pid)]
    leftovers = subprocess.run(["pgrep", "-f", str(session.project)], capture_output=True, text=True).stdout.split()
    assert not leftovers, f"processes left behind: {leftovers}"
    assert "nothing was running" in session.run("down", cwd="loadtests").stderr
