"""Sabotage for the consumer-crash drill: a consumer that deletes each job message as soon as it
receives it, *before* the job runs and its result is sent — the bug the drill must catch (a
consumer killed mid-job then loses the job: nothing is left to redeliver).

Run as a child process, as ``hookstack consumer`` is::

    python -m chaos.delete_first_consumer --target embedded --stage chaos-jobs --concurrency 2

Everything else is the real consumer (:mod:`stack.jobs_consumer`): the same loop, heartbeat,
reports and sample handler; only the order of the delete changes.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
from collections.abc import Mapping
from typing import Any

from stack.jobs_consumer.runner import JobRunner
from stack.jobs_consumer.stats import JobOutcome


class DeleteFirstRunner(JobRunner):
    def run(self, message: Mapping[str, Any], received_at: float, consumer: str | None = None) -> JobOutcome:
        with contextlib.suppress(Exception):  # a failed early delete leaves the real behaviour
            self.stage.sqs.delete_message(QueueUrl=self.stage.jobs_queue_url, ReceiptHandle=message["ReceiptHandle"])
        return super().run(message, received_at, consumer)


def main(argv: list[str] | None = None) -> int:
    from stack.deploy.outputs import load_outputs
    from stack.jobs_consumer.consumer import Consumer, ConsumerOptions, stopped_by_signals
    from stack.jobs_consumer.runner import RunSettings
    from stack.jobs_consumer.sample_job import insert_customer_records
    from stack.jobs_consumer.stage import JobsStage

    parser = argparse.ArgumentParser(prog="python -m chaos.delete_first_consumer")
    parser.add_argument("--target", default="embedded")
    parser.add_argument("--stage")
    parser.add_argument("--concurrency", type=int, default=1)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    stage = JobsStage.from_outputs(load_outputs(args.target, args.stage))
    options = ConsumerOptions(concurrency=args.concurrency)
    consumer = Consumer(stage, insert_customer_records, options, observe=lambda ran: print(ran.describe(), flush=True))
    consumer.runner = DeleteFirstRunner(
        stage, insert_customer_records, RunSettings(consumer.visibility_timeout_s, options.max_job_s)
    )
    print(f"delete-first consumer (sabotage) for {stage.jobs_queue_url}", flush=True)
    with stopped_by_signals(consumer):
        stats = consumer.run()
    print(stats.summary(), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
