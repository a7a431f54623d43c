"""The orchestration pattern: ``POST /invoices`` validated at the gateway against a JSON-schema
model, then by the intake → invoices table (RECEIVED) + invoices queue → starter function → one
Step Functions execution per invoice and round:

    ComputeTotals → RecordInvoice[ SaveInvoice | BookInvoice ] → PaymentMethod?
        card → ChargePayment → CompleteInvoice        transfer → CompleteInvoice
    any failure (after the retries) → Compensate → InvoiceFailed

The accounting and payment steps retry their ``…Unavailable`` errors with backoff; every Catch
leads to the compensation, which refunds the round's charge, records the outcome and puts the
invoice in the invoice dead letters queue with its reason (``hookstack invoices replay``).
``GET /invoices/{id}`` reads the invoice item, which every step updates.
"""

from __future__ import annotations

from handlers.invoices.contract import (
    INVOICE_SUBMISSION_SCHEMA,
    AccountingUnavailable,
    PaymentUnavailable,
)
from stack.config import HookstackConfig
from stack.definition.models import EventSourceMapping, Function, Grant, Queue, RequestModel, Route, Table
from stack.definition.state_machines import (
    LAMBDA_SERVICE_ERRORS,
    LAMBDA_THROTTLE_ERROR,
    Branch,
    Catch,
    ChoiceRule,
    ChoiceState,
    FailState,
    ParallelState,
    Retry,
    StateMachine,
    TaskState,
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

STATE_MACHINE = "InvoiceStateMachine"
TABLE = "InvoicesTable"
QUEUE = "InvoicesQueue"
QUEUE_DLQ = "InvoicesQueueDeadLetterQueue"  # starts that failed maxReceiveCount times
DEAD_LETTERS = "InvoiceDeadLettersQueue"  # compensated invoices, with their reasons: the replay source
STARTER_TIMEOUT_SECONDS = 30
STEP_TIMEOUT_SECONDS = 15
DLQ_RETENTION_SECONDS = 14 * 24 * 3600
# Longer than any step's throttle retries can wait (THROTTLE_RETRY), so a burst never times an
# execution out, which no Catch sees: the invoice would stay RUNNING with nothing compensated.
EXECUTION_TIMEOUT_SECONDS = 60 * 60
# The third parties' own outages: 1 s, 2 s, 4 s between the attempts (7 s of waiting in all).
PARTNER_RETRY = {"interval_seconds": 1, "max_attempts": 3, "backoff_rate": 2.0}
SERVICE_RETRY = Retry(error_equals=list(LAMBDA_SERVICE_ERRORS), interval_seconds=1, max_attempts=3, backoff_rate=2.0)
# A step at its reserved concurrency (``invoice_step_concurrency``): waits drawn at random up to
# 1, 2, 4, 8, 16, then 20 s, 20 attempts (at most 331 s, about 2.8 min on average), so a month-end
# burst drains through the steps' width instead of failing, and the throttled ones do not all come
# back at once. Ten attempts capped at 10 s (at most 75 s) failed 3 of a 60-invoice burst and some
# of a 200-invoice one on the embedded target, where a step takes ~0.4 s.
THROTTLE_RETRY = Retry(
    error_equals=[LAMBDA_THROTTLE_ERROR],
    interval_seconds=1,
    max_attempts=20,
    backoff_rate=2.0,
    max_delay_seconds=20,
    full_jitter=True,
)
TO_COMPENSATION = [Catch(error_equals=["States.ALL"], next="Compensate", result_path="$.error")]
BOOKING_HANDLERS = {
    None: "handlers.invoices.booking.handler",
    "unkeyed-booking": "handlers.invoices.booking.unkeyed_handler",
}


def invoice_state_machine(config: HookstackConfig) -> StateMachine:
    return StateMachine(
        logical_id=STATE_MACHINE,
        name=config.resource_name("invoices"),
        comment="One invoice: totals, saved and booked, paid, completed; or compensated and dead-lettered",
        timeout_seconds=EXECUTION_TIMEOUT_SECONDS,
        start_at="ComputeTotals",
        states={
            "ComputeTotals": TaskState(
                function="InvoiceTotalsFunction",
                result_path="$.totals",
                retry=[THROTTLE_RETRY, SERVICE_RETRY],
                catch=TO_COMPENSATION,
                next="RecordInvoice",
            ),
            "RecordInvoice": ParallelState(
                branches=[
                    Branch(
                        start_at="SaveInvoice",
                        states={
                            "SaveInvoice": TaskState(
                                function="InvoiceSaveFunction", retry=[THROTTLE_RETRY, SERVICE_RETRY], end=True
                            )
                        },
                    ),
                    Branch(
                        start_at="BookInvoice",
                        states={
                            "BookInvoice": TaskState(
                                function="InvoiceBookingFunction",
                                retry=[
                                    Retry(error_equals=[AccountingUnavailable.__name__], **PARTNER_RETRY),
                                    THROTTLE_RETRY,
                                    SERVICE_RETRY,
                                ],
                                end=True,
                            )
                        },
                    ),
                ],
                result_path="$.recorded",
                catch=TO_COMPENSATION,
                next="PaymentMethod",
            ),
            "PaymentMethod": ChoiceState(
                choices=[ChoiceRule(variable="$.payment", string_equals="card", next="ChargePayment")],
                default="CompleteInvoice",
            ),
            "ChargePayment": TaskState(
                function="InvoicePaymentFunction",
                result_path="$.charge",
                retry=[
                    Retry(error_equals=[PaymentUnavailable.__name__], **PARTNER_RETRY),
                    THROTTLE_RETRY,
                    SERVICE_RETRY,
                ],
                catch=TO_COMPENSATION,
                next="CompleteInvoice",
            ),
            "CompleteInvoice": TaskState(
                function="InvoiceCompletionFunction",
                result_path="$.completion",
                retry=[THROTTLE_RETRY, SERVICE_RETRY],
                catch=TO_COMPENSATION,
                end=True,
            ),
            "Compensate": TaskState(
                function="InvoiceCompensationFunction",
                result_path="$.compensation",
                retry=[
                    Retry(error_equals=[PaymentUnavailable.__name__], **PARTNER_RETRY),
                    THROTTLE_RETRY,
                    SERVICE_RETRY,
                ],
                next="InvoiceFailed",
            ),
            "InvoiceFailed": FailState(
                error="InvoiceFailed",
                cause="compensated; the invoice waits in the invoice dead letters queue with its reason",
            ),
        },
    )


def _completions(platform: Platform) -> tuple[dict[str, OutputRef], list[Grant]]:
    """With the notifications pattern, the completion step publishes each completed invoice."""
    if platform.notifications_topic is None:
        return {}, []
    env: dict[str, OutputRef] = {"COMPLETIONS_TOPIC_ARN": (platform.notifications_topic, "Ref")}
    return env, [Grant(actions=["sns:Publish"], resource=platform.notifications_topic)]


def _step(
    config: HookstackConfig,
    logical_id: str,
    label: str,
    handler: str,
    *,
    environment: dict[str, str] | None = None,
    environment_refs: dict[str, OutputRef] | None = None,
    grants: list[Grant] | None = None,
    timeout_seconds: int = STEP_TIMEOUT_SECONDS,
) -> Function:
    return Function(
        logical_id=logical_id,
        name=config.resource_name(label),
        handler=handler,
        memory_mb=256,
        timeout_seconds=timeout_seconds,
        environment={**function_environment(config, label), **(environment or {})},
        environment_refs=environment_refs or {},
        grants=grants or [],
    )


def _functions(config: HookstackConfig, platform: Platform) -> list[Function]:
    table: dict[str, OutputRef] = {"INVOICES_TABLE": (TABLE, "Ref")}
    partner = {"PARTNER_URL": config.partner_url or "", "PARTNER_TIMEOUT_MS": str(config.invoice_partner_timeout_ms)}
    update = Grant(actions=["dynamodb:UpdateItem"], resource=TABLE)
    completions_env, completions_grants = _completions(platform)
    return [
        _step(
            config,
            "InvoiceIntakeFunction",
            "invoice-intake",
            "handlers.invoices.intake.handler",
            environment={"MAX_BODY_BYTES": str(config.max_request_bytes)},
            environment_refs={**table, "INVOICES_QUEUE_URL": (QUEUE, "QueueUrl")},
            grants=[
                # The invoice and its reference claim in one transaction; DeleteItem to take both
                # back when it cannot be queued; GetItem to name the holder of a duplicate reference.
                Grant(actions=["dynamodb:PutItem", "dynamodb:DeleteItem", "dynamodb:GetItem"], resource=TABLE),
                Grant(actions=["sqs:SendMessage"], resource=QUEUE),
            ],
        ),
        _step(
            config,
            "InvoiceQueryFunction",
            "invoice-query",
            "handlers.invoices.query.handler",
            environment_refs=table,
            grants=[Grant(actions=["dynamodb:GetItem"], resource=TABLE)],
        ),
        _step(
            config,
            "InvoiceStarterFunction",
            "invoice-starter",
            "handlers.invoices.starter.handler",
            timeout_seconds=STARTER_TIMEOUT_SECONDS,
            environment_refs={**table, "STATE_MACHINE_ARN": (STATE_MACHINE, "Ref")},
            grants=[
                Grant(actions=["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"], resource=QUEUE),
                Grant(actions=["states:StartExecution"], resource=STATE_MACHINE),
                update,
            ],
        ),
        _step(config, "InvoiceTotalsFunction", "invoice-totals", "handlers.invoices.totals.handler"),
        _step(
            config,
            "InvoiceSaveFunction",
            "invoice-save",
            "handlers.invoices.record.handler",
            environment_refs=table,
            grants=[update],
        ),
        _step(
            config,
            "InvoiceBookingFunction",
            "invoice-booking",
            BOOKING_HANDLERS[config.orchestration_sabotage],
            environment=partner,
            environment_refs=table,
            grants=[update],
        ),
        _step(
            config,
            "InvoicePaymentFunction",
            "invoice-payment",
            "handlers.invoices.payment.handler",
            environment=partner,
            environment_refs=table,
            grants=[update],
        ),
        _step(
            config,
            "InvoiceCompletionFunction",
            "invoice-completion",
            "handlers.invoices.completion.handler",
            environment_refs={**table, **completions_env},
            grants=[update, *completions_grants],
        ),
        _step(
            config,
            "InvoiceCompensationFunction",
            "invoice-compensation",
            "handlers.invoices.compensation.handler",
            environment=partner,
            environment_refs={**table, "INVOICE_DEAD_LETTERS_QUEUE_URL": (DEAD_LETTERS, "QueueUrl")},
            grants=[
                Grant(actions=["dynamodb:GetItem", "dynamodb:UpdateItem"], resource=TABLE),
                Grant(actions=["sqs:SendMessage"], resource=DEAD_LETTERS),
            ],
        ),
    ]


def _with_step_width(functions: list[Function], machine: StateMachine, width: int) -> list[Function]:
    """The machine's Task functions reserve ``width`` concurrency each (the intake, query and
    starter keep the account's unreserved pool)."""
    steps = set(machine.task_functions())
    return [f.model_copy(update={"reserved_concurrency": width}) if f.logical_id in steps else f for f in functions]


class OrchestrationPattern(Pattern):
    name = "orchestration"
    summary = (
        "invoices: POST /invoices (schema-checked) → queue → one Step Functions execution each "
        "(retries, compensation, dead letters); GET /invoices/{id}"
    )

    def parts(self, config: HookstackConfig, platform: Platform) -> PatternParts:
        queue_dlq = Queue(
            logical_id=QUEUE_DLQ,
            name=config.resource_name("invoices-dlq"),
            fifo=False,
            retention_seconds=DLQ_RETENTION_SECONDS,
        )
        queue = Queue(
            logical_id=QUEUE,
            name=config.resource_name("invoices"),
            fifo=False,
            visibility_timeout_seconds=VISIBILITY_TIMEOUT_FACTOR * STARTER_TIMEOUT_SECONDS,
            dead_letter_queue=QUEUE_DLQ,
            max_receive_count=config.max_receive_count,
        )
        dead_letters = Queue(
            logical_id=DEAD_LETTERS,
            name=config.resource_name("invoice-dead-letters"),
            fifo=False,
            retention_seconds=DLQ_RETENTION_SECONDS,
        )
        machine = invoice_state_machine(config)
        functions = _with_step_width(_functions(config, platform), machine, config.invoice_step_concurrency)
        return PatternParts(
            tables=[Table(logical_id=TABLE)],
            queues=[queue_dlq, queue, dead_letters],
            functions=functions,
            event_source_mappings=[
                EventSourceMapping(
                    logical_id="InvoicesMapping",
                    queue=QUEUE,
                    function="InvoiceStarterFunction",
                    batch_size=10,
                    maximum_concurrency=2,
                )
            ],
            state_machines=[machine],
            routes=[
                Route(
                    method="POST",
                    path="/invoices",
                    function="InvoiceIntakeFunction",
                    authorizer=platform.authorizer,
                    request_model=RequestModel(name="InvoiceSubmission", json_schema=INVOICE_SUBMISSION_SCHEMA),
                    responses={
                        202: "accepted: recorded and queued for its execution; poll status_url",
                        400: "a domain rule refused the invoice (the amount is not the lines' total)",
                        403: "no tenant",
                        409: "the tenant already used this reference (the body names its invoice)",
                        413: "body larger than the stage takes",
                        503: "not queued (a store unavailable): nothing was recorded, retry",
                    },
                ),
                Route(
                    method="GET",
                    path="/invoices/{id}",
                    function="InvoiceQueryFunction",
                    authorizer=platform.authorizer,
                    responses={
                        200: "the invoice's status, step history and what its steps produced",
                        403: "no tenant",
                        404: "no such invoice for this tenant",
                    },
                ),
            ],
            outputs={
                TABLE: (TABLE, "Ref"),
                "InvoicesQueueUrl": (QUEUE, "QueueUrl"),
                "InvoicesQueueDlqUrl": (QUEUE_DLQ, "QueueUrl"),
                "InvoiceDeadLettersQueueUrl": (DEAD_LETTERS, "QueueUrl"),
                "InvoiceStateMachineArn": (STATE_MACHINE, "Ref"),
                **{output_name(f.logical_id): (f.logical_id, "Ref") for f in functions},
            },
        )
