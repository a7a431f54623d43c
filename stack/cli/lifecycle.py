"""Stack lifecycle commands: synth, up, down, deploy, destroy, outputs, secrets init."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from stack.cli.app import (
    EndpointOpt,
    JsonOpt,
    PatternOpt,
    ProfileOpt,
    RegionOpt,
    StageOpt,
    TargetOpt,
    app,
    console,
    out,
    print_json,
    progress,
    secrets_app,
)
from stack.config import load_config
from stack.errors import HookstackError, NoApiError, UsageError

if TYPE_CHECKING:
    from stack.deploy.outputs import StackOutputs
    from stack.embedded.handler_watch import HandlerChanges


@app.command()
def synth(
    output: Annotated[Path | None, typer.Option("--out", "-o", help="file (default stdout)")] = None,
    bootstrap: Annotated[bool, typer.Option(help="the artifacts bootstrap stack instead")] = False,
    openapi: Annotated[bool, typer.Option("--openapi", help="the stage's API as an OpenAPI 3.0 document")] = False,
    stage: StageOpt = None,
    pattern: PatternOpt = None,
) -> None:
    """Write the CloudFormation template (JSON), or with --openapi the API document."""
    from stack.definition.app import bootstrap_stack, hookstack_stack
    from stack.definition.openapi import stack_openapi
    from stack.definition.render import render_template, template_json

    if bootstrap and openapi:
        raise UsageError("--bootstrap and --openapi: choose one (the bootstrap stack has no API)")
    config = load_config(stage=stage, patterns=pattern or None)
    definition = bootstrap_stack(config) if bootstrap else hookstack_stack(config)
    if openapi:
        if not definition.apis:
            raise NoApiError(config.stage, config.patterns)
        text = template_json(stack_openapi(definition, region=config.region))
    else:
        text = template_json(render_template(definition, runtime=config.runtime, architecture=config.architecture))
    if output:
        try:
            output.write_text(text + "\n")
        except OSError as exc:
            raise HookstackError(f"--out {output}: {exc.strerror or exc}") from None
        console.print(f"wrote {output} ({len(text)} bytes)")
    else:
        sys.stdout.write(text + "\n")


def outputs_lines(outputs: StackOutputs) -> list[str]:
    """``name  value`` per output, one line each: URLs, ids and names are copied whole, so they are
    printed unbroken (a narrow terminal wraps the line; nothing is cut or folded)."""
    rows: list[tuple[str, str]] = []
    for key, value in outputs.model_dump(mode="json").items():
        if isinstance(value, list):
            rows.append((key, ", ".join(map(str, value))))
        elif isinstance(value, dict):
            rows += [(f"{key}.{name}", str(item)) for name, item in value.items()]
        else:
            rows.append((key, "" if value is None else str(value)))
    width = max(len(key) for key, _ in rows)
    return [f"{key:<{width}}  {value}".rstrip() for key, value in rows]


@app.command()
def up(
    gateway: Annotated[
        str, typer.Option(help="hookstack (own data plane) | ministack (the emulator's API path)")
    ] = "hookstack",
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="emulator port (default: a free one)")] = None,
    gateway_port: Annotated[
        int | None,
        typer.Option(
            min=1, max=65535, help="the endpoint's port (default: the one a running stack has, else a free one)"
        ),
    ] = None,
    event_plane: Annotated[
        str,
        typer.Option(
            help="who polls the queues for the worker: hookstack (scales per message group, as Lambda) | "
            "ministack (the emulator's poller, one batch at a time)"
        ),
    ] = "hookstack",
    stage: StageOpt = None,
    pattern: PatternOpt = None,
    as_json: JsonOpt = False,
    watch: Annotated[
        bool,
        typer.Option(
            "--watch",
            help="then watch handlers/ and redeploy in place on each change (same endpoint); Ctrl-C stops "
            "watching, the stack stays up",
        ),
    ] = False,
) -> None:
    """Start the embedded emulator, deploy the stack, print the endpoint; on a running stack,
    redeploy in place: the endpoint keeps its URL (the gateway restarts on the same port)."""
    from stack.embedded.handler_watch import HandlerChanges, HandlerSources
    from stack.embedded.lifecycle import up as embedded_up

    if watch and as_json:
        raise UsageError("--watch prints a line per redeploy: it does not combine with --json")
    config = load_config(stage=stage, patterns=pattern or None)
    changes = HandlerChanges(HandlerSources()) if watch else None  # before the deploy: an edit during it counts
    result = embedded_up(
        config,
        gateway=gateway,
        port=port,
        gateway_port=gateway_port,
        event_plane=event_plane,
        progress=progress,
    )
    if as_json:
        print_json(
            {
                "outputs": result.outputs.model_dump(mode="json"),
                "redeployed": result.redeployed,
                "seconds": round(result.total_s, 2),
            }
        )
        return
    verb = "redeployed" if result.redeployed else "up"
    console.print(
        f"[green]{verb}[/green] in {result.total_s:.1f}s (emulator {result.emulator_ready_s:.1f}s, "
        f"deploy {result.deployment.seconds:.1f}s, gateway {result.gateway_ready_s:.1f}s)"
    )
    out.print(_endpoint_line(result.outputs), soft_wrap=True, highlight=False)
    if result.outputs.functions_python is not None:
        out.print(result.outputs.functions_python.describe(), soft_wrap=True, highlight=False, markup=False)
    if changes is not None:
        _watch_handlers(changes, lambda: embedded_up(config, gateway=gateway, event_plane=event_plane))


def _watch_handlers(changes: HandlerChanges, redeploy: Callable[[], object]) -> None:
    """Redeploy on each handler change until Ctrl-C (exit 0: the stack stays up) or the watch's
    time bound; one line per redeploy."""
    from stack.cli import edge
    from stack.embedded.handler_watch import MAX_WATCH_S, Redeploy, watch

    redeploying = False

    def run_redeploy() -> object:
        nonlocal redeploying
        redeploying = True
        try:
            return redeploy()
        finally:
            redeploying = False

    def report(done: Redeploy) -> None:
        files = ", ".join(done.files[:3]) + (f" and {len(done.files) - 3} more" if len(done.files) > 3 else "")
        if done.error is None:
            console.print(f"[green]redeployed[/green] in {done.seconds:.1f}s ({files} changed)", soft_wrap=True)
            return
        line = edge.error_line(done.error)
        console.print(
            f"[red]redeploy failed[/red] after {done.seconds:.1f}s ({files} changed): "
            f"{line or edge.bug_line(done.error)}; the running stack is as it was, still watching",
            soft_wrap=True,
            highlight=False,
            markup=False,
        )

    console.print("watching handlers/ (Ctrl-C stops watching; the stack stays up)")
    try:
        ended = watch(changes, run_redeploy, report)
    except KeyboardInterrupt:
        if redeploying:
            raise  # mid-deploy: the stack may be half updated, as any interrupted `up` (exit 130)
        console.print("stopped watching; the stack stays up (`hookstack down` stops it)")
        return
    console.print(
        f"stopped watching after {MAX_WATCH_S / 3600:g} h ({ended.redeploys} redeploy(s), {ended.failed} failed); "
        "the stack stays up"
    )


@app.command()
def down(stage: StageOpt = None) -> None:
    """Stop the embedded emulator and data plane; remove their processes and temporary files."""
    from stack.embedded.lifecycle import down as embedded_down

    console.print("stopped" if embedded_down(load_config(stage=stage)) else "nothing was running")


def _target(target: str, config, endpoint_url: str | None, profile: str | None, region: str | None):
    from stack.deploy.targets import make_target

    if target == "embedded":
        raise HookstackError("the embedded target is deployed with `hookstack up`")
    return make_target(target, config=config, endpoint_url=endpoint_url, profile=profile, region=region)


@app.command()
def deploy(
    target: TargetOpt = "embedded",
    stage: StageOpt = None,
    endpoint_url: EndpointOpt = None,
    profile: ProfileOpt = None,
    region: RegionOpt = None,
    pattern: PatternOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create or update the stack on a target (embedded: same as `up`)."""
    from stack.deploy.cloudformation import deploy as run_deploy
    from stack.deploy.outputs import save_outputs
    from stack.embedded.lifecycle import outputs_from_stack
    from stack.home import build_dir

    config = load_config(stage=stage, region=region, patterns=pattern or None)
    if target == "embedded":
        up(
            gateway="hookstack",
            port=None,
            gateway_port=None,
            event_plane="hookstack",
            stage=stage,
            pattern=pattern,
            as_json=as_json,
        )
        return
    where = _target(target, config, endpoint_url, profile, region)
    deployment = run_deploy(where, config, build_dir(), progress)
    outs = deployment.app.outputs
    outputs = outputs_from_stack(
        where,
        config,
        outs,
        api_url=where.invoke_url(outs["ApiId"], config.stage, outs["ApiUrl"]) if "ApiId" in outs else None,
        gateway=target,
        artifacts_bucket=deployment.bootstrap.outputs["ArtifactsBucket"],
    )
    save_outputs(outputs)
    if as_json:
        print_json(outputs.model_dump(mode="json"))
    else:
        console.print(f"[green]deployed[/green] {config.stack_name} to {target} in {deployment.seconds:.1f}s")
        out.print(_endpoint_line(outputs))


def _endpoint_line(outputs: StackOutputs) -> str:
    return f"endpoint: {outputs.api_url}" if outputs.has_api else str(NoApiError(outputs.stage, outputs.patterns))


@app.command()
def destroy(
    target: TargetOpt = "aws",
    stage: StageOpt = None,
    endpoint_url: EndpointOpt = None,
    profile: ProfileOpt = None,
    region: RegionOpt = None,
    yes: Annotated[bool, typer.Option("--yes", help="do not ask")] = False,
) -> None:
    """Empty the buckets and delete the stacks (embedded: use `hookstack down`)."""
    from stack.deploy.cloudformation import destroy as run_destroy
    from stack.deploy.outputs import forget_outputs

    config = load_config(stage=stage, region=region)
    where = _target(target, config, endpoint_url, profile, region)
    if not yes and not typer.confirm(f"delete {config.stack_name} and its data on {target}?"):
        raise typer.Exit(1)
    deleted = run_destroy(where, config, progress)
    forget_outputs(target, config.stage)
    console.print(f"deleted: {', '.join(deleted) or 'nothing (no stack)'}")


@app.command()
def outputs(target: TargetOpt = "embedded", stage: StageOpt = None, as_json: JsonOpt = False) -> None:
    """Show the deployed stack's outputs."""
    from stack.deploy.outputs import load_outputs

    found = load_outputs(target, stage)
    if as_json:
        print_json(found.model_dump(mode="json"))
    else:
        for line in outputs_lines(found):
            out.print(line, soft_wrap=True, highlight=False, markup=False)


@secrets_app.command("init")
def secrets_init(
    target: TargetOpt = "aws",
    stage: StageOpt = None,
    endpoint_url: EndpointOpt = None,
    profile: ProfileOpt = None,
    region: RegionOpt = None,
) -> None:
    """Create missing tenant tokens and provider secrets with random values (never overwrites)."""
    from stack.deploy.secrets import ensure_secrets

    config = load_config(stage=stage, region=region)
    where = _target(target, config, endpoint_url, profile, region)
    created = ensure_secrets(where.client("ssm"), config, create=True)
    console.print(f"created: {', '.join(created) or 'nothing (all present)'}")
