"""Claiming a mapping from the emulator's own poller (see the MiniStack patch
``lambda-esm-external-poller``): a tag on the mapping, set while hookstack polls it."""

from __future__ import annotations

from typing import Any

from stack.embedded.ministack.patches import EXTERNAL_POLLER_TAG_KEY, EXTERNAL_POLLER_TAG_VALUE
from stack.embedded.ministack.patches import is_claimed as mapping_is_claimed


def claim(lambda_client: Any, mapping_arn: str) -> None:
    lambda_client.tag_resource(Resource=mapping_arn, Tags={EXTERNAL_POLLER_TAG_KEY: EXTERNAL_POLLER_TAG_VALUE})


def release(lambda_client: Any, mapping_arn: str) -> None:
    lambda_client.untag_resource(Resource=mapping_arn, TagKeys=[EXTERNAL_POLLER_TAG_KEY])


def is_claimed(lambda_client: Any, mapping_arn: str) -> bool:
    # The patch's own rule, over the tags the Lambda API reads back.
    return mapping_is_claimed({"Tags": lambda_client.list_tags(Resource=mapping_arn).get("Tags")})


def release_stack(lambda_client: Any, cloudformation: Any, stack_name: str) -> int:
    """Hand every mapping of ``stack_name`` back to the emulator's poller (after an event plane
    that was killed before it could release them); the number released."""
    from stack.embedded.event_plane.mappings import stack_mapping_ids

    released = 0
    for uuid in stack_mapping_ids(cloudformation, stack_name).values():
        arn = lambda_client.get_event_source_mapping(UUID=uuid).get("EventSourceMappingArn")
        if arn and is_claimed(lambda_client, arn):
            release(lambda_client, arn)
            released += 1
    return released
