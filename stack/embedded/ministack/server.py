"""Run the pinned MiniStack with hookstack's patches applied.

``python -m stack.embedded.ministack.server`` is ``python -m ministack`` plus
``stack.embedded.ministack.patches``: the patches are applied in this process, then MiniStack's
own ``main()`` runs, so every MiniStack setting (GATEWAY_PORT, BIND_HOST, LOG_LEVEL,
PERSIST_STATE, LAMBDA_EXECUTOR, …) and ``--stop`` work as documented upstream.
``-d/--detach`` is refused: MiniStack detaches by starting a fresh
``python -m hypercorn ministack.app:app`` process, which would not carry the patches.

A patch that refuses (MiniStack release or source not the one it was checked against)
is reported on stderr and MiniStack runs without it, unless
``HOOKSTACK_REQUIRE_MINISTACK_PATCHES=1`` asks for a hard failure (benchmarks and
tests set it so they never measure the unpatched emulator by mistake).

``stack.embedded.emulator`` starts either form as a child process on a free loopback port.
"""

from __future__ import annotations

import os
import sys

from stack.embedded.emulator import REQUIRE_PATCHES_ENV
from stack.embedded.ministack.apigateway_patches import apply_request_validator_patch
from stack.embedded.ministack.dynamodb_patches import apply_tokenize_cache_patch
from stack.embedded.ministack.lambda_runtime_patches import apply_runtime_interpreter_patch
from stack.embedded.ministack.patches import apply_patches
from stack.embedded.ministack.sqs_receive_patches import apply_fifo_receive_indexed_patch
from stack.embedded.ministack.stepfunctions_patches import apply_stepfunctions_patches
from stack.embedded.ministack.streams_patches import apply_stream_failures_patch

EXIT_PATCH_REFUSED = 3
EXIT_DETACH_REFUSED = 2


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    if any(a in ("-d", "--detach") for a in args):
        print(
            "hookstack: --detach is not supported by stack.embedded.ministack.server: the detached "
            "MiniStack process would run without hookstack's patches. Run it in the "
            "foreground (hookstack starts it as its own child process).",
            file=sys.stderr,
        )
        raise SystemExit(EXIT_DETACH_REFUSED)
    # The stream patch after apply_patches: its guard hashes the pollers as the external-poller patch leaves them.
    outcomes = [
        *apply_patches(),
        apply_fifo_receive_indexed_patch(),  # builds on the FIFO receive and delete patches above
        apply_request_validator_patch(),
        apply_tokenize_cache_patch(),
        apply_runtime_interpreter_patch(),
        apply_stream_failures_patch(),
        *apply_stepfunctions_patches(),
    ]
    for outcome in outcomes:
        print(f"hookstack: {outcome.describe()}", file=sys.stderr, flush=True)
    if os.environ.get(REQUIRE_PATCHES_ENV) == "1" and not all(o.applied for o in outcomes):
        print(f"hookstack: {REQUIRE_PATCHES_ENV}=1 and a patch was refused; not starting.", file=sys.stderr)
        raise SystemExit(EXIT_PATCH_REFUSED)
    from ministack.app import main as ministack_main

    sys.argv = [sys.argv[0], *args]
    ministack_main()


if __name__ == "__main__":
    main()
