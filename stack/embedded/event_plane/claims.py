"""Claiming a mapping from the emulator's own poller (see the MiniStack patch
``lambda-esm-external-poller``): a tag on the mapping, set while hookstack polls it."""

from __future__ import annotations

import logging
from typing import Any

from stack.embedded.ministack.patches import EXTERNAL_POLLER_TAG_KEY, EXTERNAL_POLLER_TAG_VALUE

log = logging.getLogger("stack.embedded.event_plane")


def claim(lambda_client: Any, mapping_arn: str) -> None:
    lambda_client.tag_resource(Resource=mapping_arn, Tags={EXTERNAL_POLLER_TAG_KEY: EXTERNAL_POLLER_TAG_VALUE})


def release(lambda_client: Any, mapping_arn: str) -> None:
    lambda_client.untag_resource(Resource=mapping_arn, TagKeys=[EXTERNAL_POLLER_TAG_KEY])


def is_claimed(lambda_client: Any, mapping_arn: str) -> bool:
    tags = lambda_client.list_tags(Resource=mapping_arn).get("Tags") or {}
    return bool(tags.get(EXTERNAL_POLLER_TAG_KEY) == EXTERNAL_POLLER_TAG_VALUE)


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
