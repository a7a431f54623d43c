"""The embedded data plane: hookstack's own API Gateway over warm pools of Lambda-like environments.

On the ``embedded`` target hookstack serves the deployed REST API itself, read from the
emulator (see docs/gateway.md). The public API is :func:`launch`, which starts the gateway
process and returns a :class:`GatewayProcess`. Imports are lazy so that modules of this
package (the environment runtime in particular) load nothing they do not need.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stack.embedded.gateway.process import GatewayProcess, GatewayStartError, launch, stop_gateway

__all__ = ["GatewayProcess", "GatewayStartError", "launch", "stop_gateway"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from stack.embedded.gateway import process

        return getattr(process, name)
    raise AttributeError(f"module 'stack.embedded.gateway' has no attribute {name!r}")
