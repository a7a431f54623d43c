"""The scratch resources one check creates on a target, and the calls checks share.

Every queue and function a check makes gets a unique name (``hsfid-<run>-<n>``) and is deleted
when the check ends, whatever its verdict. Each call is bounded by the client's timeouts and
each wait by a fixed number of seconds, so a check ends even when the target stops answering.
"""

from __future__ import annotations

import io
import itertools
import json
import uuid
import zipfile
from collections.abc import Callable
from typing import Any, Protocol

from botocore.config import Config
from botocore.exceptions import ClientError

from stack.fidelity.behaviour import Differs, NotSupportedHere

# Bounded calls: a target that hangs fails the check instead of the suite.
PROBE_CLIENT_CONFIG = Config(retries={"max_attempts": 1, "mode": "standard"}, connect_timeout=3, read_timeout=15)
NAME_PREFIX = "hsfid"
_QUERY_PREFIX = "AWS.SimpleQueueService."


def error_code(exc: ClientError) -> str:
    """The error code without the Query protocol's ``AWS.SimpleQueueService.`` prefix."""
    code = str(exc.response.get("Error", {}).get("Code", ""))
    return code.removeprefix(_QUERY_PREFIX)


class SuiteResource(Protocol):
    """Something several checks share (the fidelity stack), made once and removed when the suite ends."""

    def close(self) -> list[str]: ...


class Probe:
    """Clients of one target plus the resources the current check made there."""

    def __init__(self, session: Any, endpoint_url: str | None, target: str) -> None:
        self.target = target
        self._session = session
        self._endpoint_url = endpoint_url
        self.sqs = self.client("sqs")
        self._run = uuid.uuid4().hex[:8]
        self._serial = itertools.count(1)
        self._queues: list[str] = []
        self._functions: list[str] = []
        # Made once for the suite; a failure to make one is kept, so later checks fail at once.
        self._shared: dict[str, SuiteResource | Exception] = {}

    def client(self, service: str) -> Any:
        return self._session.client(service, endpoint_url=self._endpoint_url, config=PROBE_CLIENT_CONFIG)

    def unique_name(self, fifo: bool = False) -> str:
        return f"{NAME_PREFIX}-{self._run}-{next(self._serial)}" + (".fifo" if fifo else "")

    # ── queues ───────────────────────────────────────────────────────────────

    def queue(self, fifo: bool = True, **attributes: str) -> str:
        """A new queue (FIFO by default) with these attributes; deleted after the check."""
        attrs = {"FifoQueue": "true", **attributes} if fifo else dict(attributes)
        url = self.sqs.create_queue(QueueName=self.unique_name(fifo), Attributes=attrs)["QueueUrl"]
        self._queues.append(url)
        return url

    def track_queue(self, url: str) -> None:
        """A queue the check created itself (a create that should have failed, say)."""
        self._queues.append(url)

    def arn(self, url: str) -> str:
        return str(self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"])

    def send(self, url: str, body: str, group: str | None = None, dedup: str | None = None) -> dict[str, Any]:
        params: dict[str, Any] = {"QueueUrl": url, "MessageBody": body}
        if group is not None:
            params["MessageGroupId"] = group
        if dedup is not None:
            params["MessageDeduplicationId"] = dedup
        return dict(self.sqs.send_message(**params))

    def send_groups(self, url: str, bodies: list[str]) -> None:
        """Send ``g1-m1``-style bodies in this order, each to the group its name starts with."""
        for body in bodies:
            self.send(url, body, group=body.split("-")[0])

    def receive(
        self, url: str, max_messages: int = 10, visibility: int | None = None, wait: int = 0, attributes: bool = False
    ) -> list[dict[str, Any]]:
        params: dict[str, Any] = {"QueueUrl": url, "MaxNumberOfMessages": max_messages, "WaitTimeSeconds": wait}
        if visibility is not None:
            params["VisibilityTimeout"] = visibility
        if attributes:
            params["AttributeNames"] = ["All"]
        return list(self.sqs.receive_message(**params).get("Messages", []))

    def bodies(self, url: str, max_messages: int = 10, visibility: int | None = None, wait: int = 0) -> list[str]:
        return [m["Body"] for m in self.receive(url, max_messages, visibility, wait)]

    def drain(self, url: str, rounds: int = 5) -> list[str]:
        """Every body receivable now (received and left in flight), over at most ``rounds`` receives."""
        seen: list[str] = []
        for _ in range(rounds):
            got = self.bodies(url, 10, visibility=30)
            if not got:
                break
            seen += got
        return seen

    # ── expectations ─────────────────────────────────────────────────────────

    @staticmethod
    def expect_error(call: Any, *codes: str, **params: Any) -> ClientError:
        """Call it; it must fail with one of ``codes`` (any code if none given)."""
        try:
            call(**params)
        except ClientError as exc:
            if codes and error_code(exc) not in codes:
                raise Differs(f"failed with {error_code(exc)}, AWS answers {' or '.join(codes)}") from None
            return exc
        raise Differs(f"accepted; AWS refuses it with {' or '.join(codes) or 'an error'}")

    @staticmethod
    def expect_equal(what: str, got: Any, want: Any) -> None:
        if got != want:
            raise Differs(f"{what}: got {got!r}, AWS gives {want!r}")

    # ── functions ────────────────────────────────────────────────────────────

    def python_function(self, source: str, handler: str = "index.handler") -> str:
        """A Python function from one source file; deleted after the check."""
        if self.target == "aws":
            raise NotSupportedHere("not supported on this target (the check would need an execution role)")
        archive = io.BytesIO()
        with zipfile.ZipFile(archive, "w") as zf:
            zf.writestr("index.py", source)
        name = self.unique_name()
        self.client("lambda").create_function(
            FunctionName=name,
            Runtime="python3.12",
            Handler=handler,
            Role="arn:aws:iam::000000000000:role/hookstack-fidelity",
            Code={"ZipFile": archive.getvalue()},
            Timeout=10,
        )
        self._functions.append(name)
        return name

    def invoke(self, function_name: str, event: Any) -> tuple[str | None, Any]:
        """(FunctionError or None, decoded payload) of a synchronous invocation."""
        response = self.client("lambda").invoke(FunctionName=function_name, Payload=json.dumps(event).encode())
        payload = response["Payload"].read()
        return response.get("FunctionError"), json.loads(payload) if payload else None

    # ── shared by several checks ─────────────────────────────────────────────

    @property
    def session(self) -> Any:
        return self._session

    @property
    def endpoint_url(self) -> str | None:
        return self._endpoint_url

    def shared(self, key: str, make: Callable[[], SuiteResource]) -> Any:
        """The suite's one ``key`` resource, made on first use; closed by :meth:`close`."""
        known = self._shared.get(key)
        if known is None:
            try:
                known = self._shared[key] = make()
            except Exception as exc:
                self._shared[key] = exc
                raise
        if isinstance(known, Exception):
            raise known
        return known

    def close(self) -> list[str]:
        """Remove what the suite shared; what could not be removed."""
        left: list[str] = []
        for resource in self._shared.values():
            if not isinstance(resource, Exception):
                left += resource.close()
        self._shared.clear()
        return left

    # ── clean-up ─────────────────────────────────────────────────────────────

    def clean_up(self) -> list[str]:
        """Delete what the check made; return what could not be deleted (best effort, bounded)."""
        left: list[str] = []
        for url in self._queues:
            try:
                self.sqs.delete_queue(QueueUrl=url)
            except Exception:  # noqa: BLE001 - already gone, or the target went away: report, go on
                left.append(url)
        for name in self._functions:
            try:
                self.client("lambda").delete_function(FunctionName=name)
            except Exception:  # noqa: BLE001 - same
                left.append(name)
        self._queues.clear()
        self._functions.clear()
        return left
