"""Process environments for CLI subprocesses."""

from __future__ import annotations

import os


def no_aws_credentials_env() -> dict[str, str]:
    """An environment in which boto3 finds no credentials and does not wait on instance metadata."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        {
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
            "AWS_CONFIG_FILE": "/nonexistent",
            "AWS_EC2_METADATA_DISABLED": "true",
        }
    )
    return env
