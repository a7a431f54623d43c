"""The project's state is found from any subdirectory, as git finds ``.git``."""

from __future__ import annotations

import subprocess
import sys

import pytest

from stack.config import load_config
from stack.deploy.outputs import StackOutputs, outputs_path
from stack.home import hookstack_home, project_root


@pytest.fixture
def project(tmp_path, monkeypatch):
    """A project directory with a subdirectory, the working directory in neither; no HOOKSTACK_HOME."""
    for name in ("HOOKSTACK_HOME", "HOOKSTACK_CONFIG", "HOOKSTACK_STAGE", "HOOKSTACK_REGION"):
        monkeypatch.delenv(name, raising=False)
    root = tmp_path / "project"
    (root / "loadtests" / "deep").mkdir(parents=True)
    return root


def test_without_a_marker_the_working_directory_is_the_root(project, monkeypatch):
    monkeypatch.chdir(project / "loadtests")
    assert project_root() == project / "loadtests"
    assert hookstack_home() == project / "loadtests" / ".hookstack"


def test_the_nearest_hookstack_directory_marks_the_root(project, monkeypatch):
    (project / ".hookstack").mkdir()
    monkeypatch.chdir(project / "loadtests" / "deep")
    assert project_root() == project
    assert hookstack_home() == project / ".hookstack"


def test_a_hookstack_toml_marks_the_root_and_is_read_from_below(project, monkeypatch):
    (project / "hookstack.toml").write_text('[hookstack]\nstage = "qa"\n')
    monkeypatch.chdir(project / "loadtests")
    assert hookstack_home() == project / ".hookstack"
    assert load_config().stage == "qa"


def test_hookstack_home_still_wins(project, monkeypatch, tmp_path):
    (project / ".hookstack").mkdir()
    monkeypatch.chdir(project / "loadtests")
    monkeypatch.setenv("HOOKSTACK_HOME", str(tmp_path / "elsewhere"))
    assert hookstack_home() == tmp_path / "elsewhere"


def _saved_outputs() -> StackOutputs:
    return StackOutputs(
        target="embedded",
        stage="dev",
        region="us-east-1",
        stack_name="hookstack-dev",
        api_id="a1",
        api_url="http://127.0.0.1:1/dev",
        gateway="hookstack",
        endpoint_url="http://127.0.0.1:2",
        resources={
            "QueueUrl": "http://127.0.0.1:2/000000000000/hookstack-dev-ingest.fifo",
            "DlqUrl": "http://127.0.0.1:2/000000000000/hookstack-dev-ingest-dlq.fifo",
            "EventsTable": "events",
            "ProjectionsTable": "projections",
            "PayloadBucket": "payloads",
        },
        artifacts_bucket="artifacts",
        function_names={"producer": "hookstack-dev-producer"},
    )


def test_commands_run_in_a_subdirectory_find_the_stack_up_left(project, monkeypatch):
    (project / ".hookstack").mkdir()
    monkeypatch.chdir(project)
    outputs_path("embedded", "dev").write_text(_saved_outputs().model_dump_json())
    result = subprocess.run(
        [sys.executable, "-m", "stack.cli", "outputs"],
        cwd=project / "loadtests",
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    # Found: what is wrong now is that its emulator is not running, not that there is no stack.
    assert result.returncode == 1
    assert "emulator is not running" in result.stderr, result.stderr
