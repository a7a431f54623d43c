"""`hookstack up --watch`'s change detection and loop, over a fake file tree and a fake clock."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from stack.deploy.package import artifact_digest, host_platform
from stack.embedded.handler_watch import HandlerChanges, HandlerSources, Redeploy, Stamp, watch
from stack.errors import HookstackError
from tests.helpers.fake_time import FakeTime
from tests.unit.stack.test_cli_errors import assert_one_line_error, hookstack


class FakeTree:
    """Files by name with their content; every write moves the file's mtime on."""

    def __init__(self, files: dict[str, str]) -> None:
        self.files = dict(files)
        self.mtimes = dict.fromkeys(files, 1)

    def write(self, name: str, content: str) -> None:
        self.files[name] = content
        self.mtimes[name] = self.mtimes.get(name, 0) + 1

    def remove(self, name: str) -> None:
        del self.files[name], self.mtimes[name]

    def stamps(self) -> dict[str, Stamp]:
        return {name: (self.mtimes[name], len(content)) for name, content in self.files.items()}

    def digest(self) -> str | None:
        return hashlib.sha256(repr(sorted(self.files.items())).encode()).hexdigest()


class Run:
    """The watch over a fake tree, with edits applied at given times (seconds since the start)."""

    def __init__(self, tree: FakeTree, edits: dict[float, Callable[[], None]], fail_at: frozenset[int] = frozenset()):
        self.tree, self.edits, self.time = tree, dict(edits), FakeTime()
        self.fail_at = fail_at  # redeploy numbers (1-based) that raise
        self.calls = 0
        self.reports: list[Redeploy] = []

    def sleep(self, seconds: float) -> None:
        self.time.sleep(seconds)
        for at in sorted(t for t in self.edits if t <= self.time.now):
            self.edits.pop(at)()

    def redeploy(self) -> None:
        self.calls += 1
        self.time.now += 4.0  # a redeploy takes a while
        if self.calls in self.fail_at:
            raise HookstackError("CREATE_FAILED: boom")

    def run(self, changes: HandlerChanges | None = None, max_seconds: float = 30.0):
        return watch(
            changes or HandlerChanges(self.tree),
            self.redeploy,
            self.reports.append,
            interval=1.0,
            max_seconds=max_seconds,
            clock=self.time.clock,
            sleep=self.sleep,
        )


def tree() -> FakeTree:
    return FakeTree({"handlers/worker.py": "v1", "handlers/producer.py": "p1", "handlers/requirements.txt": "x"})


def test_an_edit_redeploys_once_after_a_quiet_poll():
    files = tree()
    run = Run(files, {2.5: lambda: files.write("handlers/worker.py", "v2")})
    ended = run.run()
    assert run.calls == 1 and ended.redeploys == 1 and ended.failed == 0
    assert run.reports == [Redeploy(["handlers/worker.py"], 4.0)]
    # seen at t=3, quiet at t=4: redeployed then, not at the first sight of the change
    assert run.time.sleeps[:4] == [1.0] * 4


def test_files_written_over_several_polls_give_one_redeploy():
    files = tree()
    edits = {
        2.5: lambda: files.write("handlers/worker.py", "v2"),
        3.5: lambda: files.write("handlers/producer.py", "p2"),
        4.5: lambda: files.write("handlers/new.py", "n"),
    }
    run = Run(files, edits)
    run.run()
    assert run.calls == 1
    assert run.reports[0].files == ["handlers/new.py", "handlers/producer.py", "handlers/worker.py"]


def test_a_file_saved_unchanged_redeploys_nothing():
    files = tree()
    run = Run(files, {2.5: lambda: files.write("handlers/worker.py", "v1")})
    run.run()
    assert run.calls == 0 and run.reports == []


def test_a_removed_file_is_a_change():
    files = tree()
    run = Run(files, {2.5: lambda: files.remove("handlers/producer.py")})
    run.run()
    assert [report.files for report in run.reports] == [["handlers/producer.py"]]


def test_a_failed_redeploy_is_reported_and_the_watch_goes_on():
    files = tree()
    edits = {
        2.5: lambda: files.write("handlers/worker.py", "v2"),
        12.5: lambda: files.write("handlers/worker.py", "v3"),
    }
    run = Run(files, edits, fail_at=frozenset({1}))
    ended = run.run()
    assert run.calls == 2 and (ended.redeploys, ended.failed) == (1, 1)
    failed, succeeded = run.reports
    assert isinstance(failed.error, HookstackError) and "CREATE_FAILED" in str(failed.error)
    assert succeeded.error is None


def test_an_edit_made_during_the_first_deploy_is_redeployed():
    files = tree()
    changes = HandlerChanges(files)  # taken before `up` deploys
    files.write("handlers/worker.py", "edited while deploying")
    run = Run(files, {})
    run.run(changes)
    assert run.calls == 1


def test_the_watch_is_bounded_in_time():
    files = tree()
    writes = {t + 0.5: (lambda t=t: files.write("handlers/worker.py", f"v{t}")) for t in range(0, 100, 3)}
    run = Run(files, writes)
    ended = run.run(max_seconds=20.0)
    assert ended.timed_out
    assert run.time.now < 20.0 + 1.0 + 4.0  # at most one poll and one redeploy past the bound
    assert run.calls >= 2


def test_the_real_sources_are_the_artifacts_inputs():
    sources = HandlerSources()
    stamps = sources.stamps()
    assert "handlers/requirements.txt" in stamps and any(name.startswith("handlers/") for name in stamps)
    assert all(not name.endswith(".pyc") for name in stamps)
    assert sources.digest() == artifact_digest(host_platform())


def test_watch_with_json_is_a_usage_error_before_anything_starts(isolated_home):
    result = hookstack("up", "--watch", "--json")
    assert_one_line_error(result, "--watch", "--json")
    assert result.returncode == 2 and not (isolated_home / "embedded").exists()
