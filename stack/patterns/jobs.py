"""The partner jobs pattern: ``POST /jobs`` validated at the gateway against a JSON-schema model,
then by the intake (domain rules) → jobs table (SUBMITTED) + jobs queue → consumer machines
(long-running processes, ``hookstack consumer``) → response queue → results function (RUNNING,
SUCCEEDED, FAILED; never regressing) → ``GET /jobs/{id}`` polls it."""

from __future__ import annotations

from handlers.jobs.contract import JOB_SUBMISSION_SCHEMA
from stack.config import HookstackConfig
from stack.definition.models import (
    Bucket,
    EventSourceMapping,
    Function,
    Grant,
    Queue,
    RequestModel,
    Route,
    Table,
)
from stack.patterns.base import (
    VISIBILITY_TIMEOUT_FACTOR,
    OutputRef,
    Pattern,
    PatternParts,
    Platform,
    function_environment,
    output_name,
)

RESULTS_TIMEOUT_SECONDS = 30
DLQ_RETENTION_SECONDS = 14 * 24 * 3600


def _completions(platform: Platform) -> tuple[dict[str, OutputRef], list[Grant]]:
    """With the notifications pattern, the results function publishes each final status."""
    if platform.notifications_topic is None:
        return {}, []
    env: dict[str, OutputRef] = {"COMPLETIONS_TOPIC_ARN": (platform.notifications_topic, "Ref")}
    return env, [Grant(actions=["sns:Publish"], resource=platform.notifications_topic)]


def _functions(config: HookstackConfig, platform: Platform) -> list[Function]:
    completions_env, completions_grants = _completions(platform)
    return [
        Function(
            logical_id="JobsIntakeFunction",
            name=config.resource_name("jobs-intake"),
            handler="handlers.jobs.intake.handler",
            memory_mb=512,
            timeout_seconds=10,
            environment={
                **function_environment(config, "jobs-intake"),
                "MAX_BODY_BYTES": str(config.max_request_bytes),
                "CLAIM_CHECK_BYTES": str(config.claim_check_bytes),
            },
            environment_refs={
                "JOBS_TABLE": ("JobsTable", "Ref"),
                "JOBS_QUEUE_URL": ("JobsQueue", "QueueUrl"),
                "ATTACHMENTS_BUCKET": ("JobAttachmentsBucket", "Ref"),
            },
            grants=[
                # The job item and the tenant's reference claim in one transaction; DeleteItem to
                # take both back when the job cannot be queued; GetItem to name the job a
                # duplicate reference belongs to.
                Grant(actions=["dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:GetItem"], resource="JobsTable"),
                Grant(actions=["sqs:SendMessage"], resource="JobsQueue"),
                Grant(actions=["s3:PutObject"], resource="JobAttachmentsBucket", object_prefix="attachments/"),
            ],
        ),
        Function(
            logical_id="JobsQueryFunction",
            name=config.resource_name("jobs-query"),
            handler="handlers.jobs.query.handler",
            memory_mb=256,
            timeout_seconds=5,
            environment=function_environment(config, "jobs-query"),
            environment_refs={"JOBS_TABLE": ("JobsTable", "Ref")},
            grants=[Grant(actions=["dynamodb:GetItem"], resource="JobsTable")],
        ),
        Function(
            logical_id="JobsResultsFunction",
            name=config.resource_name("jobs-results"),
            handler="handlers.jobs.results.handler",
            memory_mb=256,
            timeout_seconds=RESULTS_TIMEOUT_SECONDS,
            environment=function_environment(config, "jobs-results"),
            environment_refs={"JOBS_TABLE": ("JobsTable", "Ref"), **completions_env},
            grants=[
                Grant(
                    actions=["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"],
                    resource="JobResultsQueue",
                ),
                Grant(actions=["dynamodb:UpdateItem"], resource="JobsTable"),
                *completions_grants,
            ],
        ),
    ]


class JobsPattern(Pattern):
    name = "jobs"
    summary = "partner jobs: POST /jobs (schema-checked) → queue → consumer machines → results; GET /jobs/{id}"

    def parts(self, config: HookstackConfig, platform: Platform) -> PatternParts:
        jobs_dlq = Queue(
            logical_id="JobsDeadLetterQueue",
            name=config.resource_name("jobs-dlq"),
            fifo=False,
            retention_seconds=DLQ_RETENTION_SECONDS,
        )
        jobs_queue = Queue(
            logical_id="JobsQueue",
            name=config.resource_name("jobs"),
            fifo=False,
            visibility_timeout_seconds=config.jobs_visibility_timeout_seconds,
            dead_letter_queue=jobs_dlq.logical_id,
            max_receive_count=config.max_receive_count,
        )
        results_dlq = Queue(
            logical_id="JobResultsDeadLetterQueue",
            name=config.resource_name("job-results-dlq"),
            fifo=False,
            retention_seconds=DLQ_RETENTION_SECONDS,
        )
        results_queue = Queue(
            logical_id="JobResultsQueue",
            name=config.resource_name("job-results"),
            fifo=False,
            visibility_timeout_seconds=VISIBILITY_TIMEOUT_FACTOR * RESULTS_TIMEOUT_SECONDS,
            dead_letter_queue=results_dlq.logical_id,
            max_receive_count=config.max_receive_count,
        )
        functions = _functions(config, platform)
        return PatternParts(
            tables=[Table(logical_id="JobsTable"), Table(logical_id="CustomerRecordsTable")],
            buckets=[Bucket(logical_id="JobAttachmentsBucket", expire_after_days=config.job_attachment_retention_days)],
            queues=[jobs_dlq, jobs_queue, results_dlq, results_queue],
            functions=functions,
            event_source_mappings=[
                EventSourceMapping(
                    logical_id="JobResultsMapping",
                    queue="JobResultsQueue",
                    function="JobsResultsFunction",
                    batch_size=10,
                    maximum_concurrency=2,
                )
            ],
            routes=[
                Route(
                    method="POST",
                    path="/jobs",
                    function="JobsIntakeFunction",
                    authorizer=platform.authorizer,
                    request_model=RequestModel(name="JobSubmission", json_schema=JOB_SUBMISSION_SCHEMA),
                    responses={
                        202: "accepted: recorded and queued; poll status_url",
                        400: "a domain rule refused the job (an attachment not base64, a name twice)",
                        403: "no tenant",
                        409: "the tenant already used this reference (the body names its job)",
                        413: "body larger than the stage takes",
                        503: "not queued (a store unavailable): nothing was recorded, retry",
                    },
                ),
                Route(
                    method="GET",
                    path="/jobs/{id}",
                    function="JobsQueryFunction",
                    authorizer=platform.authorizer,
                    responses={
                        200: "the job's status and result",
                        403: "no tenant",
                        404: "no such job for this tenant",
                    },
                ),
            ],
            outputs={
                "JobsTable": ("JobsTable", "Ref"),
                "CustomerRecordsTable": ("CustomerRecordsTable", "Ref"),
                "JobsQueueUrl": ("JobsQueue", "QueueUrl"),
                "JobsDlqUrl": ("JobsDeadLetterQueue", "QueueUrl"),
                "JobResultsQueueUrl": ("JobResultsQueue", "QueueUrl"),
                "JobResultsDlqUrl": ("JobResultsDeadLetterQueue", "QueueUrl"),
                "JobAttachmentsBucket": ("JobAttachmentsBucket", "Ref"),
                **{output_name(f.logical_id): (f.logical_id, "Ref") for f in functions},
            },
        )
