"""Stack lifecycle commands: synth, up, down, deploy, destroy, outputs, secrets init."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from stack.cli.app import (
    EndpointOpt,
    JsonOpt,
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
from stack.errors import HookstackError


@app.command()
def synth(
    output: Annotated[Path | None, typer.Option("--out", "-o", help="file (default stdout)")] = None,
    bootstrap: Annotated[bool, typer.Option(help="the artifacts bootstrap stack instead")] = False,
    stage: StageOpt = None,
) -> None:
    """Write the CloudFormation template (JSON)."""
    from stack.definition.app import bootstrap_stack, hookstack_stack
    from stack.definition.render import render_template, template_json

    config = load_config(stage=stage)
    definition = bootstrap_stack(config) if bootstrap else hookstack_stack(config)
    text = template_json(render_template(definition, runtime=config.runtime, architecture=config.architecture))
    if output:
        output.write_text(text + "\n")
        console.print(f"wrote {output} ({len(text)} bytes)")
    else:
        sys.stdout.write(text + "\n")


def _outputs_table(outputs) -> Table:
    table = Table(show_header=False, box=None)
    for key, value in outputs.model_dump(mode="json").items():
        if isinstance(value, dict):
            value = ", ".join(f"{k}={v}" for k, v in value.items())
        table.add_row(f"[bold]{key}[/bold]", str(value))
    return table


@app.command()
def up(
    gateway: Annotated[
        str, typer.Option(help="hookstack (own data plane) | ministack (the emulator's API path)")
    ] = "hookstack",
    port: Annotated[int | None, typer.Option(min=1, max=65535, help="emulator port (default: a free one)")] = None,
    stage: StageOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Start the embedded emulator, deploy the stack, print the endpoint."""
    from stack.embedded.lifecycle import up as embedded_up

    result = embedded_up(load_config(stage=stage), gateway=gateway, port=port, progress=progress)
    if as_json:
        print_json({"outputs": result.outputs.model_dump(mode="json"), "seconds": round(result.total_s, 2)})
        return
    console.print(
        f"[green]up[/green] in {result.total_s:.1f}s (emulator {result.emulator_ready_s:.1f}s, "
        f"deploy {result.deployment.seconds:.1f}s, gateway {result.gateway_ready_s:.1f}s)"
    )
    out.print(f"endpoint: {result.outputs.api_url}")


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
    as_json: JsonOpt = False,
) -> None:
    """Create or update the stack on a target (embedded: same as `up`)."""
    from stack.deploy.cloudformation import deploy as run_deploy
    from stack.deploy.outputs import save_outputs
    from stack.embedded.lifecycle import outputs_from_stack
    from stack.home import build_dir

    config = load_config(stage=stage, region=region)
    if target == "embedded":
        up(gateway="hookstack", port=None, stage=stage, as_json=as_json)
        return
    where = _target(target, config, endpoint_url, profile, region)
    deployment = run_deploy(where, config, build_dir(), progress)
    outs = deployment.app.outputs
    outputs = outputs_from_stack(
        where,
        config,
        outs,
        api_url=where.invoke_url(outs["ApiId"], config.stage, outs["ApiUrl"]),
        gateway=target,
        artifacts_bucket=deployment.bootstrap.outputs["ArtifactsBucket"],
    )
    save_outputs(outputs)
    if as_json:
        print_json(outputs.model_dump(mode="json"))
    else:
        console.print(f"[green]deployed[/green] {config.stack_name} to {target} in {deployment.seconds:.1f}s")
        out.print(f"endpoint: {outputs.api_url}")


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
        out.print(_outputs_table(found))


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
