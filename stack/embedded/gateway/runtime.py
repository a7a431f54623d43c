"""The runtime loop of one execution environment, and the wire protocol it speaks.

The gateway starts ``python -S runtime.py --fd N …`` per environment with the function's
code directory as the working directory. This module is both that program and the
definition of the protocol the gateway imports, so it uses the standard library only and
does nothing at import time.

Protocol: one stream socket (inherited as fd N), length-prefixed JSON frames (4-byte
big-endian length, then UTF-8 JSON). The handler's stdout and stderr never carry protocol
traffic: they are the function's log file, one write per complete line, so lines of
concurrent environments appending to the same file do not tear.

Messages, environment → gateway: ``ready`` (init done, ``init_ms``), ``init_error``
(``errorType``, ``errorMessage``), ``result`` (``id``, ``ok``, ``payload`` or ``error``,
``duration_ms``; ``cpu_ms`` and ``cpu_wait_ms``: the process's CPU time during the handler and its
time waiting for a CPU, None where unknown). Gateway → environment:
``invoke`` (``id``, ``deadline_ms``, ``event``).
"""

from __future__ import annotations

import decimal
import io
import json
import math
import os
import resource
import socket
import struct
import sys
import time
import traceback
from typing import Any, BinaryIO

FRAME_HEADER = struct.Struct(">I")
# A 10 MB body base64-encoded inside a JSON event stays well under this.
MAX_FRAME_BYTES = 64 * 1024 * 1024
# Python runtimes have 10 s for init on Lambda.
INIT_LIMIT_S = 10.0
# Synchronous invocation payload limits of Lambda (request, response), in bytes.
MAX_REQUEST_PAYLOAD_BYTES = 6 * 1024 * 1024
MAX_RESPONSE_BYTES = 6 * 1024 * 1024 + 100


class ProtocolError(RuntimeError):
    pass


def _json_default(value: Any) -> Any:
    # What the Lambda Python runtime's marshaller accepts beyond plain JSON.
    if isinstance(value, decimal.Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def encode_frame(message: dict[str, Any]) -> bytes:
    data = json.dumps(message, separators=(",", ":"), ensure_ascii=False, default=_json_default).encode("utf-8")
    if len(data) > MAX_FRAME_BYTES:
        raise ProtocolError(f"message of {len(data)} bytes exceeds {MAX_FRAME_BYTES}")
    return FRAME_HEADER.pack(len(data)) + data


def read_frame(stream: BinaryIO) -> dict[str, Any] | None:
    """The next message, or None at end of stream."""
    head = stream.read(FRAME_HEADER.size)
    if len(head) < FRAME_HEADER.size:
        return None
    (length,) = FRAME_HEADER.unpack(head)
    if length > MAX_FRAME_BYTES:
        raise ProtocolError(f"frame of {length} bytes exceeds {MAX_FRAME_BYTES}")
    data = stream.read(length)
    if len(data) < length:
        return None
    return json.loads(data)


# --- Log lines, as the Lambda service writes them around every invocation ----------------


def start_line(request_id: str, version: str) -> str:
    return f"START RequestId: {request_id} Version: {version}\n"


def end_lines(
    request_id: str,
    *,
    duration_ms: float,
    memory_mb: int,
    max_memory_mb: int,
    init_ms: float | None = None,
    status: str | None = None,
) -> str:
    # Since 2025-08 on-demand invocations bill the init phase too.
    billed = max(1, math.ceil(duration_ms + (init_ms or 0.0)))
    report = (
        f"REPORT RequestId: {request_id}\tDuration: {duration_ms:.2f} ms\tBilled Duration: {billed} ms"
        f"\tMemory Size: {memory_mb} MB\tMax Memory Used: {max_memory_mb} MB"
    )
    if init_ms is not None:
        report += f"\tInit Duration: {init_ms:.2f} ms"
    if status is not None:
        report += f"\tStatus: {status}"
    return f"END RequestId: {request_id}\n{report}\n"


def init_report_line(init_ms: float, error_type: str) -> str:
    return f"INIT_REPORT Init Duration: {init_ms:.2f} ms\tPhase: init\tStatus: error\tError Type: {error_type}\n"


def error_lines(error_type: str, error_message: str, stack_trace: list[str]) -> str:
    lines = [f"[ERROR] {error_type}: {error_message}"]
    if stack_trace:
        lines.append("Traceback (most recent call last):")
        for frame in stack_trace:
            lines.extend(frame.rstrip("\n").split("\n"))
    return "\n".join(lines) + "\n"


def max_memory_used_mb() -> int:
    return max(1, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024)


# --- The environment side -----------------------------------------------------------------


def run_queue_wait_ns() -> int | None:
    """Nanoseconds this process has waited for a CPU so far (Linux schedstat), None where unreadable."""
    try:
        with open("/proc/self/schedstat", "rb") as stat:
            return int(stat.read().split()[1])
    except (OSError, ValueError, IndexError):
        return None


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class LineWriter(io.TextIOBase):
    """stdout/stderr of the handler: whole lines, one ``write(2)`` each, to an append-mode file."""

    def __init__(self, fd: int) -> None:
        super().__init__()
        self._fd = fd
        self._pending: list[str] = []
        self.buffer = open(fd, "wb", buffering=0, closefd=False)  # lives as long as the process

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"

    @property
    def errors(self) -> str:  # type: ignore[override]
        return "backslashreplace"

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self._fd

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        head, newline, tail = text.rpartition("\n")
        if not newline:
            self._pending.append(text)
            return len(text)
        data = "".join(self._pending) + head + "\n"
        self._pending = [tail] if tail else []
        _write_all(self._fd, data.encode("utf-8", "backslashreplace"))
        return len(text)

    def flush(self) -> None:
        # A partial line stays pending until its newline or the end of the invocation.
        return None

    def end_line(self) -> None:
        """Terminate a partial line the handler left (so the next log line starts clean)."""
        if self._pending:
            self.write("\n")


class LambdaContext:
    """The ``context`` argument of a Lambda Python handler."""

    # Same for every invocation of this environment: read once.
    _static: dict[str, str] = {}

    def __init__(self, request_id: str, deadline_ms: int, invoked_function_arn: str) -> None:
        static = LambdaContext._static
        if not static:
            environ = os.environ
            static.update(
                function_name=environ.get("AWS_LAMBDA_FUNCTION_NAME", ""),
                function_version=environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
                memory_limit_in_mb=environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"),
                log_group_name=environ.get("AWS_LAMBDA_LOG_GROUP_NAME", ""),
                log_stream_name=environ.get("AWS_LAMBDA_LOG_STREAM_NAME", ""),
            )
        self.aws_request_id = request_id
        self.invoked_function_arn = invoked_function_arn
        self.function_name = static["function_name"]
        self.function_version = static["function_version"]
        self.memory_limit_in_mb = static["memory_limit_in_mb"]
        self.log_group_name = static["log_group_name"]
        self.log_stream_name = static["log_stream_name"]
        self.identity = None
        self.client_context = None
        self.tenant_id = None
        self._deadline_ms = deadline_ms

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int(self._deadline_ms - time.time() * 1000))

    def log(self, message: str) -> None:
        sys.stdout.write(message)


_current_request_id = ""


def _install_lambda_logging() -> None:
    """The root logger handler of the Lambda Python runtime (text format)."""
    import logging

    class LambdaLoggerHandler(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            try:
                message = self.format(record)
                stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
                sys.stdout.write(
                    f"[{record.levelname}]\t{stamp}.{int(record.msecs):03d}Z\t{_current_request_id}\t{message}\n"
                )
            except Exception:  # noqa: BLE001 - logging must never break the handler
                self.handleError(record)

    root = logging.getLogger()
    root.handlers[:] = [LambdaLoggerHandler()]


def _error(exc: BaseException, error_type: str | None = None, message: str | None = None) -> dict[str, Any]:
    frames = traceback.format_list(traceback.extract_tb(exc.__traceback__))
    return {
        "errorType": error_type or type(exc).__name__,
        "errorMessage": str(exc) if message is None else message,
        "stackTrace": frames,
    }


def load_handler(handler: str) -> Any:
    """``module.path.function`` → the function, raising an error dict as Lambda reports it."""
    module_name, _, function_name = handler.rpartition(".")
    module_name = module_name.replace("/", ".")
    if not module_name:
        raise _InitError({"errorType": "Runtime.MalformedHandlerName", "errorMessage": f"Bad handler '{handler}'"})
    import importlib

    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise _InitError(
            _error(exc, "Runtime.ImportModuleError", f"Unable to import module '{module_name}': {exc}")
        ) from exc
    except SyntaxError as exc:
        raise _InitError(
            _error(exc, "Runtime.UserCodeSyntaxError", f"Syntax error in module '{module_name}': {exc}")
        ) from exc
    except Exception as exc:  # noqa: BLE001 - any init failure is reported, as Lambda does
        raise _InitError(_error(exc)) from exc
    function = getattr(module, function_name, None)
    if function is None:
        raise _InitError(
            {
                "errorType": "Runtime.HandlerNotFound",
                "errorMessage": f"Handler '{function_name}' missing on module '{module_name}'",
                "stackTrace": [],
            }
        )
    return function


class _InitError(Exception):
    def __init__(self, error: dict[str, Any]) -> None:
        super().__init__(error["errorMessage"])
        self.error = error


def _configure_sys_path(task_root: str, runtime_libs: str | None) -> None:
    script_dir = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if p and os.path.abspath(p) != script_dir]
    front = [task_root] + ([runtime_libs] if runtime_libs else [])
    sys.path[:0] = front


def _parse_args(argv: list[str]) -> dict[str, str]:
    args: dict[str, str] = {}
    it = iter(argv)
    for flag in it:
        if not flag.startswith("--"):
            raise SystemExit(f"unexpected argument {flag!r}")
        args[flag[2:]] = next(it)
    return args


def serve(argv: list[str]) -> int:
    global _current_request_id
    args = _parse_args(argv)
    spawned_ns = int(args["spawned-at-ns"])
    task_root = args["task-root"]
    _configure_sys_path(task_root, args.get("runtime-libs"))
    sock = socket.socket(fileno=int(args["fd"]))
    reader = sock.makefile("rb")
    stdout, stderr = LineWriter(1), LineWriter(2)
    sys.stdout, sys.stderr = stdout, stderr
    _install_lambda_logging()
    memory_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128"))
    version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
    arn = args["function-arn"]

    try:
        handler = load_handler(os.environ["_HANDLER"])
    except _InitError as failure:
        failed_init_ms = (time.time_ns() - spawned_ns) / 1e6
        init_error = failure.error
        stdout.write(
            error_lines(init_error["errorType"], init_error["errorMessage"], init_error.get("stackTrace") or [])
        )
        stdout.write(init_report_line(failed_init_ms, init_error["errorType"]))
        sock.sendall(encode_frame({"type": "init_error", "init_ms": failed_init_ms, **init_error}))
        return 1
    init_ms: float | None = (time.time_ns() - spawned_ns) / 1e6
    sock.sendall(encode_frame({"type": "ready", "init_ms": init_ms}))

    while True:
        message = read_frame(reader)
        if message is None:
            return 0  # the gateway went away
        request_id = message["id"]
        _current_request_id = request_id
        stdout.write(start_line(request_id, version))
        context = LambdaContext(request_id, message["deadline_ms"], arn)
        error: dict[str, Any] | None = None
        started, cpu_started, queued_before = time.perf_counter(), time.process_time(), run_queue_wait_ns()
        try:
            payload = handler(message["event"], context)
        except Exception as exc:  # noqa: BLE001 - a handler error is the function's answer
            error = _error(exc)
        duration_ms = (time.perf_counter() - started) * 1000
        # The pool sizes a function from the share of its time it needed no CPU: neither running
        # nor waiting for one (a starved machine must not look like I/O).
        cpu_ms = (time.process_time() - cpu_started) * 1000
        queued_after = run_queue_wait_ns()
        cpu_wait_ms = None if queued_before is None or queued_after is None else (queued_after - queued_before) / 1e6
        frame = b""
        if error is None:
            try:
                frame = encode_frame(
                    {
                        "type": "result",
                        "id": request_id,
                        "ok": True,
                        "payload": payload,
                        "duration_ms": duration_ms,
                        "cpu_ms": cpu_ms,
                        "cpu_wait_ms": cpu_wait_ms,
                    }
                )
            except (TypeError, ValueError) as exc:
                error = _error(exc, "Runtime.MarshalError", f"Unable to marshal response: {exc}")
            else:
                if len(frame) > MAX_RESPONSE_BYTES:
                    error = {
                        "errorType": "Function.ResponseSizeTooLarge",
                        "errorMessage": "Response payload size exceeded maximum allowed payload size"
                        f" ({MAX_RESPONSE_BYTES} bytes).",
                        "stackTrace": [],
                    }
        stdout.end_line()
        stderr.end_line()
        if error is not None:
            stdout.write(error_lines(error["errorType"], error["errorMessage"], error["stackTrace"]))
            frame = encode_frame(
                {
                    "type": "result",
                    "id": request_id,
                    "ok": False,
                    "error": error,
                    "duration_ms": duration_ms,
                    "cpu_ms": cpu_ms,
                    "cpu_wait_ms": cpu_wait_ms,
                }
            )
        stdout.write(
            end_lines(
                request_id,
                duration_ms=duration_ms,
                memory_mb=memory_mb,
                max_memory_mb=max_memory_used_mb(),
                init_ms=init_ms,
            )
        )
        init_ms = None
        sock.sendall(frame)
        _current_request_id = ""


if __name__ == "__main__":
    sys.exit(serve(sys.argv[1:]))
