"""docs/ci.md's example workflow is valid YAML, and every hookstack command it runs exists, with
the options it passes."""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import Any

import yaml

from stack.cli import command_line

DOC = Path(__file__).resolve().parents[3] / "docs" / "ci.md"


def workflow() -> dict[Any, Any]:
    blocks = re.findall(r"```yaml\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)
    assert len(blocks) == 1, "docs/ci.md holds one workflow"
    return yaml.safe_load(blocks[0])


def hookstack_calls(run: str) -> list[list[str]]:
    """The argument lists of each `hookstack` call in a step's shell script."""
    calls = []
    for command in run.replace("\\\n", " ").replace("&&", "\n").splitlines():
        words = shlex.split(command)
        for index, word in enumerate(words):
            if word == "hookstack" or word.endswith("/hookstack"):
                calls.append(words[index + 1 :])
    return calls


def resolve(arguments: list[str]) -> tuple[Any, list[str]]:
    """The command the arguments name, and the arguments left for it."""
    command = command_line()
    while arguments and getattr(command, "commands", None) and arguments[0] in command.commands:
        command, arguments = command.commands[arguments[0]], arguments[1:]
    return command, arguments


def test_the_workflow_is_a_github_actions_job_that_runs_hookstack():
    document = workflow()
    steps = document["jobs"]["gates"]["steps"]
    runs = [step["run"] for step in steps if "run" in step]
    calls = [call for run in runs for call in hookstack_calls(run)]
    assert [call[0] for call in calls] == ["up", "load", "report", "chaos", "down"]
    assert any("upload-artifact" in step.get("uses", "") for step in steps)


def test_every_hookstack_command_and_option_of_the_workflow_exists():
    for run in (step["run"] for step in workflow()["jobs"]["gates"]["steps"] if "run" in step):
        for call in hookstack_calls(run):
            command, rest = resolve(call)
            assert not getattr(command, "commands", None), f"`hookstack {' '.join(call)}` names a group"
            known = {opt for param in command.params for opt in getattr(param, "opts", [])}
            for word in rest:
                if word.startswith("--"):
                    assert word.split("=")[0] in known, f"`hookstack {' '.join(call)}`: no option {word}"


def test_the_checker_refuses_a_command_or_an_option_that_does_not_exist():
    command, rest = resolve(["chaos", "run", "poison-message", "--junit", "x.xml"])
    assert command.name == "run" and rest == ["poison-message", "--junit", "x.xml"]
    group, _ = resolve(["report", "nonexistent"])
    assert getattr(group, "commands", None)  # stopped at the group: the test above would fail
    load, _ = resolve(["load"])
    assert "--no-such-option" not in {opt for param in load.params for opt in getattr(param, "opts", [])}
