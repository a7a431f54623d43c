"""A guarded patch to MiniStack 1.5.33: DynamoDB stream event source mappings fail as Lambda's do.

``lambda-dynamodb-stream-failures``
    MiniStack's stream poller (``_poll_dynamodb_streams`` in ``services/lambda_svc.py``) retries
    a failing batch forever (only ``MaximumRecordAgeInSeconds`` ends it), never bisects, and
    ignores ``ReportBatchItemFailures``: a function that answers ``batchItemFailures`` has the
    whole batch counted a success, so the failed records are silently skipped — lost. Lambda
    (the stream event source mapping documentation):

    - an answer naming failed records (``itemIdentifier`` = the record's sequence number)
      checkpoints before the lowest one: the records ahead of it are done, the batch is retried
      from it; an empty list (or none) succeeds the whole batch; an identifier that is not in
      the batch, or empty, fails the whole batch;
    - a function error with ``BisectBatchOnFunctionError`` splits the batch in two and retries
      the first half (a split does not count against the retry quota);
    - after ``MaximumRetryAttempts`` retries (-1 or absent: until the records expire) or once
      the oldest record is older than ``MaximumRecordAgeInSeconds``, the batch's metadata goes to
      ``DestinationConfig.OnFailure`` (``RetryAttemptsExhausted`` / ``MaxRecordAgeExceeded``) and
      the shard moves past it.

    The patched poller is MiniStack's own pass with the failure branch replaced: the same
    checks, positions (``_dynamodb_stream_positions``), filter (``_apply_filter_criteria``),
    invocation (``_execute_function``), backoff (``_esm_backoff_until``) and on-failure record
    (``_send_ddb_stream_failure_record``). It finds ``_iter_all_esms`` in the module on every
    pass, so mappings claimed by hookstack's event plane (patch ``lambda-esm-external-poller``)
    are still skipped.

Apply it after ``stack.embedded.ministack.patches.apply_patches()``: the external-poller patch's
guard hashes the original ``_poll_dynamodb_streams`` this one replaces.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from stack.embedded.ministack.patches import PatchOutcome, installed_ministack_version, source_refusal

STREAM_FAILURES_PATCH = "lambda-dynamodb-stream-failures"

# sha256 of inspect.getsource() of what the patch replaces or relies on, as checked in 1.5.33.
_EXPECTED_LAMBDA_SOURCE_SHA256 = {
    "_poll_dynamodb_streams": "2b2460e933a9f3c3fb00d9e15763d11977533af74787eb39ce1f39bbe6e54e8b",
    "_send_ddb_stream_failure_record": "0efd5f5ffe2d6df57a30204eb0a4d226406f6f3f0bf81b3cbc1040c31fc748a0",
    "_apply_filter_criteria": "d8d7d5c8f77ea1ac431ccaf2e5ae888968c5e3a62d5ac3ef177043011a679fd3",
    "_dynamodb_stream_table_from_arn_spec": "339c3125c285fe02eb713f710f7f967dc72a22072b6292fa420941710c7132a2",
    "_get_func_record_for_qualifier": "a86e90478088123dc1675e52d0c9ac692f6c91cbadebd1d7eac46575f627c91c",
    "_execute_function": "3ceb16d6480a2161601b152da88f1633573e5143f94de16fab84877d447165be",
}
_EXPECTED_DYNAMODB_SOURCE_SHA256 = {
    "stream_start_position": "3b822e76fbb147fa08b60c91c04d91a05d62bf84950a323e73121f9fb7fb76a3",
    "stream_end_position": "d0483912696df38d9e0f06251f452197cafd4283e56d2ff1565180905f5897a3",
    "stream_records_since": "aed31a353fda9770d3babb2d6091616fd2e60fcee3c78aee7c197e490182f27a",
}
RETRY_FOREVER = -1


@dataclass
class BatchState:
    """The failing batch at a mapping's position: attempts so far, and its bisected size."""

    attempts: int = 0
    size_limit: int | None = None


def first_failed_index(
    batch: Sequence[Mapping[str, Any]], result: Mapping[str, Any], esm: Mapping[str, Any]
) -> int | None:
    """Index in ``batch`` of the first record to retry from (0: the whole batch), None: success."""
    if result.get("error"):
        return 0
    if "ReportBatchItemFailures" not in (esm.get("FunctionResponseTypes") or []):
        return None
    answer = result.get("body")
    if not isinstance(answer, Mapping):
        return None
    failures = answer.get("batchItemFailures")
    if failures is None or failures == []:
        return None
    if not isinstance(failures, list):
        return 0
    positions = {str((record.get("dynamodb") or {}).get("SequenceNumber")): i for i, record in enumerate(batch)}
    failed = []
    for failure in failures:
        identifier = failure.get("itemIdentifier") if isinstance(failure, Mapping) else None
        if not isinstance(identifier, str) or identifier not in positions:
            return 0  # Lambda: an invalid identifier fails the whole batch
        failed.append(positions[identifier])
    return min(failed)


def _oldest_age_s(records: Sequence[Mapping[str, Any]], now: float) -> float:
    created = [float((r.get("dynamodb") or {}).get("ApproximateCreationDateTime", now)) for r in records]
    return now - min(created, default=now)


def stream_failures_poller(lambda_module: Any, dynamodb_module: Any) -> Callable[[], bool]:
    """MiniStack's ``_poll_dynamodb_streams`` with Lambda's failure handling."""
    lam, ddb = lambda_module, dynamodb_module
    states: dict[str, BatchState] = {}  # by mapping UUID; only the poller thread touches it

    def advance(esm_id: str, position: int) -> None:
        with lam._dynamodb_stream_positions_lock:
            lam._dynamodb_stream_positions[esm_id] = position
        states.pop(esm_id, None)
        lam._esm_backoff_until.pop(esm_id, None)

    def poll_one(esm: dict) -> bool:
        if not esm.get("Enabled", True):
            return False
        source_arn = esm.get("EventSourceArn", "")
        try:
            spec = lam.parse_arn(source_arn)
        except lam.ArnParseError:
            return False
        if spec.service != "dynamodb" or spec.account_id != lam.get_account_id() or spec.region != lam.get_region():
            return False
        table_stream = lam._dynamodb_stream_table_from_arn_spec(spec)
        if table_stream is None:
            return False
        table_name = table_stream[0]
        func_rec, _config = lam._get_func_record_for_qualifier(esm["FunctionName"], esm.get("Qualifier"))
        if func_rec is None:
            return False
        table = ddb._tables.get(table_name)
        if not table or table.get("LatestStreamArn") != source_arn:
            return False
        horizon, end = ddb.stream_start_position(table_name), ddb.stream_end_position(table_name)
        if end == horizon:
            return False
        esm_id = esm["UUID"]
        if lam._esm_backoff_until.get(esm_id, 0) > time.time():
            return False
        with lam._dynamodb_stream_positions_lock:
            if esm_id not in lam._dynamodb_stream_positions:
                start = horizon if esm.get("StartingPosition", "LATEST") == "TRIM_HORIZON" else end
                lam._dynamodb_stream_positions[esm_id] = start
            position = max(lam._dynamodb_stream_positions[esm_id], horizon)
            lam._dynamodb_stream_positions[esm_id] = position
        state = states.setdefault(esm_id, BatchState())
        size = int(esm.get("BatchSize", 100))
        raw = ddb.stream_records_since(table_name, position, min(size, state.size_limit or size))
        if not raw:
            return False
        batch = lam._apply_filter_criteria(raw, esm)
        if not batch:
            advance(esm_id, position + len(raw))
            return True
        result = lam._execute_function(func_rec, {"Records": batch})
        failed_at = first_failed_index(batch, result, esm)
        if failed_at is None:
            advance(esm_id, position + len(raw))
            esm["LastProcessingResult"] = f"OK - {len(batch)} records"
            return True
        # Raw records up to the first failed one are done (filtered out, or succeeded before it).
        done = raw.index(batch[failed_at])
        if done:
            advance(esm_id, position + done)
            position += done
            state = states.setdefault(esm_id, BatchState())
        failing = raw[done:]
        esm["LastProcessingResult"] = "FAILED"
        lam.logger.warning(
            "ESM: Lambda %s failed a DynamoDB stream batch of %d from %s (attempt %d)",
            esm["FunctionName"],
            len(failing),
            table_name,
            state.attempts + 1,
        )
        max_age = int(esm.get("MaximumRecordAgeInSeconds") or -1)
        if max_age > 0 and _oldest_age_s(failing, time.time()) > max_age:
            lam._send_ddb_stream_failure_record(esm, func_rec, failing, source_arn, result, "MaxRecordAgeExceeded")
            advance(esm_id, position + len(failing))
            return True
        if esm.get("BisectBatchOnFunctionError") and len(failing) > 1:
            state.size_limit = math.ceil(len(failing) / 2)
        else:
            state.attempts += 1
            retries = esm.get("MaximumRetryAttempts")
            retries = RETRY_FOREVER if retries is None else int(retries)
            if retries != RETRY_FOREVER and state.attempts > retries:
                lam._send_ddb_stream_failure_record(
                    esm, func_rec, failing, source_arn, result, "RetryAttemptsExhausted"
                )
                advance(esm_id, position + len(failing))
                return True
        lam._esm_backoff_until[esm_id] = time.time() + lam._ESM_BACKOFF_SECONDS
        return False

    def poll_dynamodb_streams() -> bool:
        if getattr(ddb, "_stream_records", None) is None:
            return False
        processed_any = False
        for account_id, region, esm in lam._iter_all_esms():
            account_token = lam._request_account_id.set(account_id)
            region_token = lam._request_region.set(region)
            try:
                processed_any = poll_one(esm) or processed_any
            finally:
                lam._request_account_id.reset(account_token)
                lam._request_region.reset(region_token)
        return processed_any

    poll_dynamodb_streams.__wrapped__ = lam._poll_dynamodb_streams  # type: ignore[attr-defined]
    return poll_dynamodb_streams


def apply_stream_failures_patch(
    lambda_module: ModuleType | None = None,
    dynamodb_module: ModuleType | None = None,
    installed_version: str | None = None,
) -> PatchOutcome:
    """Replace MiniStack's DynamoDB stream poller with one that fails batches as Lambda does."""
    if lambda_module is None or dynamodb_module is None:
        from ministack.services import dynamodb, lambda_svc

        lambda_module, dynamodb_module = lambda_module or lambda_svc, dynamodb_module or dynamodb
    current = getattr(lambda_module, "_poll_dynamodb_streams", None)
    if getattr(current, "__wrapped__", None) is not None:
        return PatchOutcome(STREAM_FAILURES_PATCH, True, "already in place")
    version = installed_version if installed_version is not None else installed_ministack_version()
    refusal = source_refusal(lambda_module, _EXPECTED_LAMBDA_SOURCE_SHA256, version) or source_refusal(
        dynamodb_module, _EXPECTED_DYNAMODB_SOURCE_SHA256, version
    )
    if refusal is not None:
        return PatchOutcome(STREAM_FAILURES_PATCH, False, refusal)
    # _poll_loop looks the name up in the module globals on every pass: rebinding suffices.
    setattr(lambda_module, "_poll_dynamodb_streams", stream_failures_poller(lambda_module, dynamodb_module))  # noqa: B010
    return PatchOutcome(
        STREAM_FAILURES_PATCH,
        True,
        "stream mappings honour MaximumRetryAttempts, BisectBatchOnFunctionError, ReportBatchItemFailures, OnFailure",
    )
