"""The notifications pattern: a job reaching a final status is published to ``CompletionsTopic``
(SNS) → an SQS subscription (raw delivery) to ``CallbackQueue`` → ``CallbackSenderFunction``
POSTs it to the tenant's callback URL, signed with the tenant's own Standard Webhooks secret;
retried with backoff, then kept in ``CallbackDeadLetterQueue`` for ``hookstack callbacks replay``.

The delivery is ours, not SNS's HTTP protocol: the callback must be signed with each tenant's
secret (SNS signs with its own certificate), and the embedded emulator does not confirm HTTP
subscriptions a template creates. See docs/notifications.md.
"""

from __future__ import annotations

from stack.config import HookstackConfig
from stack.definition.models import (
    EventSourceMapping,
    Function,
    Grant,
    Queue,
    QueuePolicy,
    Topic,
    TopicSubscription,
)
from stack.patterns.base import (
    VISIBILITY_TIMEOUT_FACTOR,
    Pattern,
    PatternParts,
    Platform,
    function_environment,
    output_name,
)

COMPLETIONS_TOPIC = "CompletionsTopic"
CALLBACK_QUEUE = "CallbackQueue"
CALLBACK_DLQ = "CallbackDeadLetterQueue"
SENDER_FUNCTION = "CallbackSenderFunction"
# Each record's POST may take the sender's 5 s HTTP timeout: a batch of 5 fits in 30 s.
SENDER_TIMEOUT_SECONDS = 30
SENDER_BATCH_SIZE = 5
DLQ_RETENTION_SECONDS = 14 * 24 * 3600


def _sender(config: HookstackConfig) -> Function:
    return Function(
        logical_id=SENDER_FUNCTION,
        name=config.resource_name("callback-sender"),
        handler="handlers.notifications.sender.handler",
        memory_mb=256,
        timeout_seconds=SENDER_TIMEOUT_SECONDS,
        environment={
            **function_environment(config, "callback-sender"),
            "CALLBACK_PARAMETER_PATH": config.callback_parameter_path,
            "SECRET_CACHE_SECONDS": str(config.secret_cache_seconds),
            "CALLBACK_BACKOFF_SECONDS": str(config.callback_backoff_seconds),
        },
        environment_refs={"CALLBACK_QUEUE_URL": (CALLBACK_QUEUE, "QueueUrl")},
        grants=[
            # ChangeMessageVisibility: a failed callback waits its backoff before the next attempt.
            Grant(
                actions=[
                    "sqs:ReceiveMessage",
                    "sqs:DeleteMessage",
                    "sqs:GetQueueAttributes",
                    "sqs:ChangeMessageVisibility",
                ],
                resource=CALLBACK_QUEUE,
            ),
            Grant(actions=["ssm:GetParametersByPath"], parameter_path=config.callback_parameter_path),
        ],
    )


class NotificationsPattern(Pattern):
    name = "notifications"
    summary = "job completions → SNS → queue → signed Standard Webhooks callbacks to each tenant; DLQ, replay"

    def parts(self, config: HookstackConfig, platform: Platform) -> PatternParts:
        dlq = Queue(
            logical_id=CALLBACK_DLQ,
            name=config.resource_name("callbacks-dlq"),
            fifo=False,
            retention_seconds=DLQ_RETENTION_SECONDS,
        )
        queue = Queue(
            logical_id=CALLBACK_QUEUE,
            name=config.resource_name("callbacks"),
            fifo=False,
            visibility_timeout_seconds=VISIBILITY_TIMEOUT_FACTOR * SENDER_TIMEOUT_SECONDS,
            dead_letter_queue=dlq.logical_id,
            max_receive_count=config.callback_max_attempts,
        )
        sender = _sender(config)
        return PatternParts(
            queues=[dlq, queue],
            functions=[sender],
            event_source_mappings=[
                EventSourceMapping(
                    logical_id="CallbackSenderMapping",
                    queue=CALLBACK_QUEUE,
                    function=SENDER_FUNCTION,
                    batch_size=SENDER_BATCH_SIZE,
                    maximum_concurrency=2,
                )
            ],
            topics=[Topic(logical_id=COMPLETIONS_TOPIC, name=config.resource_name("completions"))],
            subscriptions=[
                TopicSubscription(logical_id="CallbackQueueSubscription", topic=COMPLETIONS_TOPIC, queue=CALLBACK_QUEUE)
            ],
            queue_policies=[
                QueuePolicy(
                    logical_id="CallbackQueuePolicy", queue=CALLBACK_QUEUE, publishing_topics=[COMPLETIONS_TOPIC]
                )
            ],
            outputs={
                "CompletionsTopicArn": (COMPLETIONS_TOPIC, "Ref"),
                "CallbackQueueUrl": (CALLBACK_QUEUE, "QueueUrl"),
                "CallbackDlqUrl": (CALLBACK_DLQ, "QueueUrl"),
                output_name(SENDER_FUNCTION): (SENDER_FUNCTION, "Ref"),
            },
        )
