"""`hookstack env`: a deployed stage as shell variables, so curl, plain Locust and boto3 scripts
work against it (``eval "$(hookstack env)"``), as awslocal does for LocalStack.

The tenant token and the provider signing secrets are printed by this command only: never by a
report, a log or another command.
"""

from __future__ import annotations

import re
import shlex
import sys
from typing import TYPE_CHECKING

from stack.cli.app import StageOpt, TargetOpt, app, console, out
from stack.clients import providers as client_providers
from stack.clients.token_placement import TokenPlacement
from stack.errors import NoApiError

if TYPE_CHECKING:
    from stack.deploy.outputs import StackOutputs

# An emulator's throwaway credentials (what its clients use); a real account's come from its profile.
EMULATOR_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "test", "AWS_SECRET_ACCESS_KEY": "test"}
UNSET_ON_AWS = ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def resource_variable(output_key: str) -> str:
    """``JobsQueueUrl`` → ``HOOKSTACK_JOBS_QUEUE_URL``."""
    return "HOOKSTACK_" + re.sub(r"(?<!^)(?=[A-Z])", "_", output_key).upper()


def stage_variables(
    outputs: StackOutputs, placement: TokenPlacement, token: str, secrets: dict[str, str]
) -> dict[str, str]:
    """Every variable `env` exports, by name: the target's AWS access, the stage's endpoint and
    resources, and the token and secrets under the names `hookstack load` reads."""
    variables: dict[str, str] = {"AWS_REGION": outputs.region, "AWS_DEFAULT_REGION": outputs.region}
    if outputs.endpoint_url:
        variables["AWS_ENDPOINT_URL"] = outputs.endpoint_url
        variables.update(EMULATOR_CREDENTIALS)
    elif outputs.profile:
        variables["AWS_PROFILE"] = outputs.profile
    if outputs.has_api:
        variables["HOOKSTACK_API_URL"] = outputs.api_url
    # Every resource of every pattern the stage deployed: QueueUrl → HOOKSTACK_QUEUE_URL,
    # JobsTable → HOOKSTACK_JOBS_TABLE. The template's ApiUrl is the AWS form: the endpoint is above.
    variables.update(
        {resource_variable(key): value for key, value in sorted(outputs.resources.items()) if key != "ApiUrl"}
    )
    if not outputs.has_api:
        return variables  # the token and the signing secrets are for the API: none to send to
    if placement.header is not None:
        variables["HOOKSTACK_TOKEN_HEADER"] = placement.header
    else:
        assert placement.query_parameter is not None  # a placement is one or the other
        variables["HOOKSTACK_TOKEN_QUERY_PARAMETER"] = placement.query_parameter
    variables["HOOKSTACK_TOKEN"] = token
    variables.update({client_providers.secret_env_var(name): secret for name, secret in secrets.items()})
    return variables


def export_lines(outputs: StackOutputs, variables: dict[str, str]) -> list[str]:
    """POSIX shell: ``export NAME='value'``; on AWS, first unset what an emulator's `env` set."""
    unset = [name for name in UNSET_ON_AWS if name not in variables] if not outputs.endpoint_url else []
    lines = [f"unset {' '.join(unset)}"] if unset else []
    lines += [f"export {name}={shlex.quote(value)}" for name, value in variables.items()]
    return lines


@app.command()
def env(target: TargetOpt = "embedded", stage: StageOpt = None) -> None:
    """Print a stage as shell exports (eval "$(hookstack env)"): AWS endpoint, region and
    credentials, API URL, queues, tables, the tenant token and the provider signing secrets."""
    from stack.config import load_config
    from stack.deploy.outputs import load_outputs, provider_secret, tenant_token

    found = load_outputs(target, stage)
    config = load_config(stage=found.stage)
    tenant = config.tenants[0]
    if found.has_api:
        secrets = {
            name: provider_secret(found, name) for name in client_providers.PROVIDERS if name in tenant.providers
        }
        token = tenant_token(found, tenant.name)
    else:
        note = f"{NoApiError(found.stage, found.patterns)}: no API URL, token or signing secrets exported"
        console.print(note, soft_wrap=True, markup=False, highlight=False)
        secrets, token = {}, ""
    variables = stage_variables(found, config.token_placement, token, secrets)
    if sys.stdout.isatty():
        console.print('[yellow]these lines hold the tenant token and signing secrets: eval "$(hookstack env)"[/]')
    for line in export_lines(found, variables):
        out.print(line, soft_wrap=True, highlight=False, markup=False)
