"""Render a ``StackDefinition`` to one CloudFormation template (a plain dict, JSON-ready)."""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any

from stack.definition.models import (
    Authorizer,
    Bucket,
    EventSourceMapping,
    Function,
    Grant,
    LogicalId,
    Queue,
    QueuePolicy,
    RestApi,
    Route,
    Schedule,
    StackDefinition,
    StreamMapping,
    Table,
    Topic,
    TopicSubscription,
)
from stack.definition.state_machines import StateMachine, definition_asl, function_arn_placeholder

Template = dict[str, Any]
ARTIFACT_PARAMETERS = ("ArtifactBucket", "ArtifactKey")
LOG_RETENTION_DAYS = 14


def ref(logical_id: str) -> dict:
    return {"Ref": logical_id}


def get_att(logical_id: str, attribute: str) -> dict:
    return {"Fn::GetAtt": [logical_id, attribute]}


def sub(text: str) -> dict:
    return {"Fn::Sub": text}


def _value(logical_id: LogicalId, kind: str) -> dict:
    if kind == "Arn":
        return get_att(logical_id, "Arn")
    if kind == "QueueUrl":
        return get_att(logical_id, "QueueUrl")
    return ref(logical_id)


def _camel(text: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", text) if part)


def _deletable(resource: dict) -> dict:
    # Every resource of a stage goes with it: `hookstack destroy` must leave nothing behind.
    return {**resource, "DeletionPolicy": "Delete", "UpdateReplacePolicy": "Delete"}


def render_table(table: Table) -> Template:
    props: dict[str, Any] = {
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": table.hash_key, "AttributeType": "S"}],
        "KeySchema": [{"AttributeName": table.hash_key, "KeyType": "HASH"}],
        "SSESpecification": {"SSEEnabled": True},
    }
    if table.ttl_attribute:
        props["TimeToLiveSpecification"] = {"AttributeName": table.ttl_attribute, "Enabled": True}
    if table.stream:
        props["StreamSpecification"] = {"StreamViewType": table.stream}
    return {table.logical_id: _deletable({"Type": "AWS::DynamoDB::Table", "Properties": props})}


def render_bucket(bucket: Bucket) -> Template:
    props: dict[str, Any] = {
        "BucketEncryption": {
            "ServerSideEncryptionConfiguration": [{"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}]
        },
        "PublicAccessBlockConfiguration": {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        },
    }
    if bucket.expire_after_days:
        props["LifecycleConfiguration"] = {
            "Rules": [{"Id": "expire", "Status": "Enabled", "ExpirationInDays": bucket.expire_after_days}]
        }
    return {bucket.logical_id: _deletable({"Type": "AWS::S3::Bucket", "Properties": props})}


def render_queue(queue: Queue) -> Template:
    props: dict[str, Any] = {
        "QueueName": queue.name,
        "VisibilityTimeout": queue.visibility_timeout_seconds,
        "MessageRetentionPeriod": queue.retention_seconds,
        "SqsManagedSseEnabled": True,
    }
    if queue.fifo:
        # Lower-case string: some emulators read the capitalised form as false.
        props["FifoQueue"] = "true"
    if queue.high_throughput:
        props["DeduplicationScope"] = "messageGroup"
        props["FifoThroughputLimit"] = "perMessageGroupId"
    if queue.dead_letter_queue:
        props["RedrivePolicy"] = {
            "deadLetterTargetArn": get_att(queue.dead_letter_queue, "Arn"),
            "maxReceiveCount": queue.max_receive_count,
        }
    return {queue.logical_id: _deletable({"Type": "AWS::SQS::Queue", "Properties": props})}


def render_topic(topic: Topic) -> Template:
    return {topic.logical_id: _deletable({"Type": "AWS::SNS::Topic", "Properties": {"TopicName": topic.name}})}


def render_subscription(subscription: TopicSubscription) -> Template:
    props: dict[str, Any] = {
        "TopicArn": ref(subscription.topic),
        "Protocol": "sqs",
        "Endpoint": get_att(subscription.queue, "Arn"),
    }
    if subscription.raw_message_delivery:
        # A string, as SNS's subscription attributes are.
        props["RawMessageDelivery"] = "true"
    return {subscription.logical_id: {"Type": "AWS::SNS::Subscription", "Properties": props}}


def render_queue_policy(policy: QueuePolicy) -> Template:
    statement = {
        "Effect": "Allow",
        "Principal": {"Service": "sns.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": get_att(policy.queue, "Arn"),
        "Condition": {"ArnEquals": {"aws:SourceArn": [ref(topic) for topic in policy.publishing_topics]}},
    }
    props = {"Queues": [ref(policy.queue)], "PolicyDocument": {"Version": "2012-10-17", "Statement": [statement]}}
    return {policy.logical_id: {"Type": "AWS::SQS::QueuePolicy", "Properties": props}}


def render_state_machine(machine: StateMachine) -> Template:
    """The machine and its own role: ``lambda:InvokeFunction`` on exactly its Tasks' functions."""
    role_id = f"{machine.logical_id}Role"
    functions = machine.task_functions()
    statements = [
        {"Effect": "Allow", "Action": ["lambda:InvokeFunction"], "Resource": [get_att(f, "Arn") for f in functions]}
    ]
    role = {
        "Type": "AWS::IAM::Role",
        "Properties": {
            "AssumeRolePolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {"Effect": "Allow", "Principal": {"Service": "states.amazonaws.com"}, "Action": "sts:AssumeRole"}
                ],
            },
            "Policies": [
                {"PolicyName": "least-privilege", "PolicyDocument": {"Version": "2012-10-17", "Statement": statements}}
            ],
        },
    }
    props: dict[str, Any] = {
        "StateMachineName": machine.name,
        "StateMachineType": "STANDARD",
        "RoleArn": get_att(role_id, "Arn"),
        "Definition": definition_asl(machine),
        "DefinitionSubstitutions": {function_arn_placeholder(f): get_att(f, "Arn") for f in functions},
    }
    return {
        role_id: role,
        machine.logical_id: _deletable({"Type": "AWS::StepFunctions::StateMachine", "Properties": props}),
    }


def _grant_resources(grant: Grant, kinds: dict[LogicalId, str]) -> list:
    base = "arn:${AWS::Partition}:ssm:${AWS::Region}:${AWS::AccountId}:parameter/"
    if grant.parameter_path is not None:
        path = grant.parameter_path.strip("/")
        return [sub(base + path), sub(base + path + "/*")]
    if grant.parameter is not None:
        return [sub(base + grant.parameter.strip("/"))]
    assert grant.resource is not None
    if grant.stream:
        if kinds[grant.resource] != "table":
            raise ValueError(f"grant on the stream of {grant.resource}, which is not a table")
        return [get_att(grant.resource, "StreamArn")]
    if kinds[grant.resource] == "bucket":
        prefix = grant.object_prefix or ""
        return [sub(f"${{{grant.resource}.Arn}}/{prefix}*")]
    if kinds[grant.resource] == "topic":
        return [ref(grant.resource)]  # a topic's Ref is its ARN
    return [get_att(grant.resource, "Arn")]


def render_function(function: Function, kinds: dict[LogicalId, str]) -> Template:
    role_id = f"{function.logical_id}Role"
    log_group_id = f"{function.logical_id}LogGroup"
    log_group_arn = (
        f"arn:${{AWS::Partition}}:logs:${{AWS::Region}}:${{AWS::AccountId}}:log-group:/aws/lambda/{function.name}:*"
    )
    statements = [
        {"Effect": "Allow", "Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Resource": sub(log_group_arn)}
    ]
    statements += [
        {"Effect": "Allow", "Action": sorted(g.actions), "Resource": _grant_resources(g, kinds)}
        for g in function.grants
    ]
    env: dict[str, Any] = dict(function.environment)
    env.update({name: _value(target, kind) for name, (target, kind) in function.environment_refs.items()})
    props: dict[str, Any] = {
        "FunctionName": function.name,
        "Handler": function.handler,
        "Runtime": {"Ref": "LambdaRuntime"},
        "Architectures": [{"Ref": "LambdaArchitecture"}],
        "MemorySize": function.memory_mb,
        "Timeout": function.timeout_seconds,
        "Role": get_att(role_id, "Arn"),
        "Code": {"S3Bucket": ref("ArtifactBucket"), "S3Key": ref("ArtifactKey")},
        "Environment": {"Variables": dict(sorted(env.items()))},
    }
    if function.reserved_concurrency is not None:
        props["ReservedConcurrentExecutions"] = function.reserved_concurrency
    return {
        role_id: {
            "Type": "AWS::IAM::Role",
            "Properties": {
                "AssumeRolePolicyDocument": {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": "lambda.amazonaws.com"},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                },
                "Policies": [
                    {
                        "PolicyName": "least-privilege",
                        "PolicyDocument": {"Version": "2012-10-17", "Statement": statements},
                    }
                ],
            },
        },
        log_group_id: _deletable(
            {
                "Type": "AWS::Logs::LogGroup",
                "Properties": {"LogGroupName": f"/aws/lambda/{function.name}", "RetentionInDays": LOG_RETENTION_DAYS},
            }
        ),
        function.logical_id: {"Type": "AWS::Lambda::Function", "DependsOn": log_group_id, "Properties": props},
    }


def render_event_source_mapping(mapping: EventSourceMapping) -> Template:
    props: dict[str, Any] = {
        "EventSourceArn": get_att(mapping.queue, "Arn"),
        "FunctionName": ref(mapping.function),
        "BatchSize": mapping.batch_size,
        "ScalingConfig": {"MaximumConcurrency": mapping.maximum_concurrency},
        "Enabled": True,
    }
    if mapping.report_batch_item_failures:
        props["FunctionResponseTypes"] = ["ReportBatchItemFailures"]
    return {mapping.logical_id: {"Type": "AWS::Lambda::EventSourceMapping", "Properties": props}}


def render_stream_mapping(mapping: StreamMapping) -> Template:
    props: dict[str, Any] = {
        "EventSourceArn": get_att(mapping.table, "StreamArn"),
        "FunctionName": ref(mapping.function),
        "StartingPosition": mapping.starting_position,
        "BatchSize": mapping.batch_size,
        "BisectBatchOnFunctionError": mapping.bisect_batch_on_function_error,
        "MaximumRetryAttempts": mapping.maximum_retry_attempts,
        "MaximumRecordAgeInSeconds": mapping.maximum_record_age_seconds,
        "DestinationConfig": {"OnFailure": {"Destination": get_att(mapping.on_failure_queue, "Arn")}},
        "Enabled": True,
    }
    if mapping.event_names:
        # A filter pattern is a JSON string inside the template.
        pattern = json.dumps({"eventName": list(mapping.event_names)}, separators=(",", ":"))
        props["FilterCriteria"] = {"Filters": [{"Pattern": pattern}]}
    if mapping.report_batch_item_failures:
        props["FunctionResponseTypes"] = ["ReportBatchItemFailures"]
    return {mapping.logical_id: {"Type": "AWS::Lambda::EventSourceMapping", "Properties": props}}


def render_schedule(schedule: Schedule) -> Template:
    rule = {
        "Type": "AWS::Events::Rule",
        "Properties": {
            "Name": schedule.name,
            "ScheduleExpression": schedule.expression,
            "State": "ENABLED",
            "Targets": [{"Id": "function", "Arn": get_att(schedule.function, "Arn")}],
        },
    }
    permission = {
        "Type": "AWS::Lambda::Permission",
        "Properties": {
            "Action": "lambda:InvokeFunction",
            "FunctionName": get_att(schedule.function, "Arn"),
            "Principal": "events.amazonaws.com",
            "SourceArn": get_att(schedule.logical_id, "Arn"),
        },
    }
    return {schedule.logical_id: rule, f"{schedule.logical_id}Permission": permission}


def _invocation_uri(function: LogicalId) -> dict:
    return sub(
        "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/"
        f"${{{function}.Arn}}/invocations"
    )


def _resource_id(api: RestApi, path: str) -> str:
    return f"{api.logical_id}{_camel(path.replace('{', 'By-').replace('}', ''))}Resource"


def _render_resources(api: RestApi) -> Template:
    out: Template = {}
    for route in api.routes:
        parent = get_att(api.logical_id, "RootResourceId")
        so_far = ""
        for part in route.path.strip("/").split("/"):
            so_far += "/" + part
            rid = _resource_id(api, so_far)
            out[rid] = {
                "Type": "AWS::ApiGateway::Resource",
                "Properties": {"RestApiId": ref(api.logical_id), "ParentId": parent, "PathPart": part},
            }
            parent = ref(rid)
    return out


def _method_id(api: RestApi, route: Route) -> str:
    return _resource_id(api, route.path).removesuffix("Resource") + _camel(route.method.lower()) + "Method"


def _render_method(api: RestApi, route: Route) -> Template:
    props: dict[str, Any] = {
        "RestApiId": ref(api.logical_id),
        "ResourceId": ref(_resource_id(api, route.path)),
        "HttpMethod": route.method,
        "AuthorizationType": "CUSTOM" if route.authorizer else "NONE",
        "RequestParameters": {f"method.request.path.{p}": True for p in route.path_parameters},
        "Integration": {"Type": "AWS_PROXY", "IntegrationHttpMethod": "POST", "Uri": _invocation_uri(route.function)},
    }
    if route.authorizer:
        props["AuthorizerId"] = ref(route.authorizer)
    out: Template = {}
    if route.request_model:
        model = route.request_model
        model_id = f"{api.logical_id}{model.name}Model"
        out[model_id] = {
            "Type": "AWS::ApiGateway::Model",
            "Properties": {
                "RestApiId": ref(api.logical_id),
                "Name": model.name,
                "ContentType": model.content_type,
                "Schema": model.json_schema,
            },
        }
        props["RequestModels"] = {model.content_type: ref(model_id)}
        props["RequestValidatorId"] = ref(_body_validator_id(api))
    out[_method_id(api, route)] = {"Type": "AWS::ApiGateway::Method", "Properties": props}
    return out


def _body_validator_id(api: RestApi) -> str:
    return f"{api.logical_id}BodyValidator"


def _render_body_validator(api: RestApi) -> Template:
    """One validator per API, shared by every method with a body model."""
    if not any(route.request_model for route in api.routes):
        return {}
    return {
        _body_validator_id(api): {
            "Type": "AWS::ApiGateway::RequestValidator",
            "Properties": {
                "RestApiId": ref(api.logical_id),
                "Name": "body",
                "ValidateRequestBody": True,
                "ValidateRequestParameters": False,
            },
        }
    }


def _render_authorizer(api: RestApi, authorizer: Authorizer) -> Template:
    return {
        authorizer.logical_id: {
            "Type": "AWS::ApiGateway::Authorizer",
            "Properties": {
                "RestApiId": ref(api.logical_id),
                "Name": authorizer.name,
                "Type": "REQUEST",
                "IdentitySource": authorizer.identity_source,
                "AuthorizerUri": _invocation_uri(authorizer.function),
                "AuthorizerResultTtlInSeconds": authorizer.result_ttl_seconds,
            },
        },
        f"{authorizer.logical_id}Permission": {
            "Type": "AWS::Lambda::Permission",
            "Properties": {
                "Action": "lambda:InvokeFunction",
                "FunctionName": get_att(authorizer.function, "Arn"),
                "Principal": "apigateway.amazonaws.com",
                "SourceArn": sub(
                    "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}:"
                    f"${{{api.logical_id}}}/authorizers/${{{authorizer.logical_id}}}"
                ),
            },
        },
    }


def render_api(api: RestApi) -> Template:
    out: Template = {
        api.logical_id: _deletable(
            {
                "Type": "AWS::ApiGateway::RestApi",
                "Properties": {
                    "Name": api.name,
                    "EndpointConfiguration": {"Types": ["REGIONAL"]},
                    **({"BinaryMediaTypes": api.binary_media_types} if api.binary_media_types else {}),
                },
            }
        )
    }
    out.update(_render_resources(api))
    for authorizer in api.authorizers:
        out.update(_render_authorizer(api, authorizer))
    out.update(_render_body_validator(api))
    methods: list[str] = []
    for route in api.routes:
        rendered = _render_method(api, route)
        methods.append(_method_id(api, route))
        out.update(rendered)
    for function in sorted({r.function for r in api.routes}):
        out[f"{function}ApiPermission"] = {
            "Type": "AWS::Lambda::Permission",
            "Properties": {
                "Action": "lambda:InvokeFunction",
                "FunctionName": get_att(function, "Arn"),
                "Principal": "apigateway.amazonaws.com",
                "SourceArn": sub(
                    f"arn:${{AWS::Partition}}:execute-api:${{AWS::Region}}:${{AWS::AccountId}}:${{{api.logical_id}}}/*"
                ),
            },
        }
    # A deployment is immutable: a new logical id whenever the API changes makes CloudFormation
    # create a fresh deployment instead of leaving the stage on the old snapshot.
    digest = hashlib.sha256(json.dumps(out, sort_keys=True).encode()).hexdigest()[:10]
    deployment_id = f"{api.logical_id}Deployment{digest}"
    out[deployment_id] = {
        "Type": "AWS::ApiGateway::Deployment",
        "DependsOn": methods,
        "Properties": {"RestApiId": ref(api.logical_id)},
    }
    stage = api.stage
    out[f"{api.logical_id}Stage"] = {
        "Type": "AWS::ApiGateway::Stage",
        "Properties": {
            "RestApiId": ref(api.logical_id),
            "DeploymentId": ref(deployment_id),
            "StageName": stage.name,
            "MethodSettings": [
                {
                    "ResourcePath": "/*",
                    "HttpMethod": "*",
                    "ThrottlingRateLimit": stage.throttle_rate_limit,
                    "ThrottlingBurstLimit": stage.throttle_burst_limit,
                }
            ],
            # API Gateway has no per-stage body limit (10 MB is fixed): declared here so every data
            # plane and the producer enforce the same figure.
            "Variables": {"maxRequestBytes": str(stage.max_request_bytes)},
        },
    }
    return out


def _api_outputs(api: RestApi) -> dict[str, dict]:
    return {
        "ApiId": {"Value": ref(api.logical_id)},
        "StageName": {"Value": api.stage.name},
        "ApiUrl": {
            "Value": sub(
                f"https://${{{api.logical_id}}}.execute-api.${{AWS::Region}}.${{AWS::URLSuffix}}/{api.stage.name}"
            )
        },
    }


def render_template(
    definition: StackDefinition, *, runtime: str = "python3.12", architecture: str = "x86_64"
) -> Template:
    kinds = {t.logical_id: "table" for t in definition.tables}
    kinds |= {b.logical_id: "bucket" for b in definition.buckets}
    kinds |= {q.logical_id: "queue" for q in definition.queues}
    kinds |= {t.logical_id: "topic" for t in definition.topics}
    kinds |= {m.logical_id: "state_machine" for m in definition.state_machines}
    resources: Template = {}
    for table in definition.tables:
        resources.update(render_table(table))
    for bucket in definition.buckets:
        resources.update(render_bucket(bucket))
    for queue in definition.queues:
        resources.update(render_queue(queue))
    for topic in definition.topics:
        resources.update(render_topic(topic))
    for subscription in definition.subscriptions:
        resources.update(render_subscription(subscription))
    for policy in definition.queue_policies:
        resources.update(render_queue_policy(policy))
    for function in definition.functions:
        resources.update(render_function(function, kinds))
    for mapping in definition.event_source_mappings:
        resources.update(render_event_source_mapping(mapping))
    for stream_mapping in definition.stream_mappings:
        resources.update(render_stream_mapping(stream_mapping))
    for schedule in definition.schedules:
        resources.update(render_schedule(schedule))
    for machine in definition.state_machines:
        resources.update(render_state_machine(machine))
    outputs = {name: {"Value": _value(target, kind)} for name, (target, kind) in definition.outputs.items()}
    for api in definition.apis:
        resources.update(render_api(api))
        outputs.update(_api_outputs(api))
    template: Template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": definition.description,
    }
    if definition.functions:
        template["Parameters"] = {
            "ArtifactBucket": {"Type": "String", "Description": "bucket holding the Lambda artifact"},
            "ArtifactKey": {"Type": "String", "Description": "key of the Lambda artifact zip"},
            "LambdaRuntime": {"Type": "String", "Default": runtime},
            "LambdaArchitecture": {"Type": "String", "Default": architecture, "AllowedValues": ["x86_64", "arm64"]},
        }
    template["Resources"] = resources
    template["Outputs"] = outputs
    return template


def template_json(template: Template) -> str:
    return json.dumps(template, indent=1, sort_keys=False)
