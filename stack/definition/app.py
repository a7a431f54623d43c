"""hookstack's own stack, declared once from the typed models; every target deploys this.

The platform (the REST API, its stage, the tenant authorizer) joined with the patterns the stage
selects (``patterns`` in ``hookstack.toml``, ``hookstack up --pattern``): see ``stack.patterns``.
"""

from __future__ import annotations

from stack.config import HookstackConfig
from stack.definition.models import Authorizer, Bucket, Function, Grant, RestApi, StackDefinition, Stage
from stack.patterns import selected_patterns
from stack.patterns.base import PatternParts, Platform, function_environment, output_name
from stack.patterns.notifications import COMPLETIONS_TOPIC, NotificationsPattern

AUTHORIZER = "TokenAuthorizer"


def _authorizer_function(config: HookstackConfig) -> Function:
    baseline = config.handler_set in ("baseline", "baseline-status")
    return Function(
        logical_id="AuthorizerFunction",
        name=config.resource_name("authorizer"),
        handler="handlers.baseline.authorizer_handler" if baseline else "handlers.authorizer.handler",
        memory_mb=256,
        timeout_seconds=5,
        environment={
            **function_environment(config, "authorizer"),
            "TENANT_PARAMETER_PATH": config.tenant_parameter_path,
            "IDENTITY_HEADER": config.identity_header,
            **(
                {"IDENTITY_QUERY_PARAMETER": config.identity_query_parameter} if config.identity_query_parameter else {}
            ),
            "SECRET_CACHE_SECONDS": str(config.secret_cache_seconds),
        },
        grants=[Grant(actions=["ssm:GetParametersByPath"], parameter_path=config.tenant_parameter_path)],
    )


def _api(config: HookstackConfig, parts: list[PatternParts]) -> RestApi:
    return RestApi(
        logical_id="WebhookApi",
        name=config.resource_name("webhooks"),
        authorizers=[
            Authorizer(
                logical_id=AUTHORIZER,
                name=config.resource_name("token-authorizer"),
                function="AuthorizerFunction",
                identity_header=config.identity_header,
                identity_query_parameter=config.identity_query_parameter,
                # With a source-IP allow-list the decision depends on the caller's address too.
                extra_identity_sources=(
                    ["context.identity.sourceIp"] if any(t.source_cidrs for t in config.tenants) else []
                ),
                result_ttl_seconds=config.authorizer_ttl_seconds,
            )
        ],
        routes=[route for part in parts for route in part.routes],
        stage=Stage(
            name=config.stage,
            throttle_rate_limit=config.throttle_rate_limit,
            throttle_burst_limit=config.throttle_burst_limit,
            max_request_bytes=config.max_request_bytes,
        ),
    )


def hookstack_stack(config: HookstackConfig) -> StackDefinition:
    """The platform and the stage's patterns, as one stack."""
    platform = Platform(
        authorizer=AUTHORIZER,
        notifications_topic=COMPLETIONS_TOPIC if NotificationsPattern.name in config.patterns else None,
    )
    patterns = selected_patterns(config)
    parts = [pattern.parts(config, platform) for pattern in patterns]
    # API Gateway refuses to deploy a REST API without methods: no route, no API (nor its authorizer).
    has_api = any(part.routes for part in parts)
    authorizer = _authorizer_function(config)
    platform_functions = [authorizer] if has_api else []
    return StackDefinition(
        description=f"{config.project} {' + '.join(p.name for p in patterns)} ({config.stage})",
        tables=[t for part in parts for t in part.tables],
        buckets=[b for part in parts for b in part.buckets],
        queues=[q for part in parts for q in part.queues],
        functions=[*platform_functions, *(f for part in parts for f in part.functions)],
        event_source_mappings=[m for part in parts for m in part.event_source_mappings],
        stream_mappings=[m for part in parts for m in part.stream_mappings],
        schedules=[s for part in parts for s in part.schedules],
        topics=[t for part in parts for t in part.topics],
        subscriptions=[s for part in parts for s in part.subscriptions],
        queue_policies=[p for part in parts for p in part.queue_policies],
        state_machines=[m for part in parts for m in part.state_machines],
        apis=[_api(config, parts)] if has_api else [],
        outputs={
            **{output_name(f.logical_id): (f.logical_id, "Ref") for f in platform_functions},
            **{name: value for part in parts for name, value in part.outputs.items()},
        },
    )


def bootstrap_stack(config: HookstackConfig) -> StackDefinition:
    """The artifacts bucket: a stack cannot create the bucket its own function code must be in
    before it is created (the same reason ``cdk bootstrap`` exists)."""
    return StackDefinition(
        description=f"{config.project} deployment artifacts ({config.stage})",
        buckets=[Bucket(logical_id="ArtifactsBucket", expire_after_days=None)],
        outputs={"ArtifactsBucket": ("ArtifactsBucket", "Ref")},
    )
