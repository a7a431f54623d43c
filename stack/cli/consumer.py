"""`hookstack consumer`: a consumer machine of the partner jobs pattern in the foreground: it runs
queued jobs with your function and reports their results, one line per job; Ctrl-C stops it."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from stack.cli.app import JsonOpt, StageOpt, TargetOpt, app, console, out, print_json


def _log_to_stderr() -> None:
    """The consumer's own warnings and notices on stderr (not the libraries' INFO chatter)."""
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
    logger = logging.getLogger("stack.jobs_consumer")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False


@app.command()
def consumer(
    handler: Annotated[
        str,
        typer.Option("--handler", metavar="MODULE:FUNCTION", help="the job function, called as function(job)"),
    ],
    concurrency: Annotated[int, typer.Option("--concurrency", metavar="N", help="jobs run at once (threads)")] = 1,
    target: TargetOpt = "embedded",
    stage: StageOpt = None,
    max_jobs: Annotated[int | None, typer.Option("--max-jobs", metavar="N", help="stop after N jobs")] = None,
    idle_exit: Annotated[
        float | None, typer.Option("--idle-exit", metavar="S", help="stop after S seconds with no job")
    ] = None,
    max_job_seconds: Annotated[
        float,
        typer.Option("--max-job-seconds", metavar="S", help="a job still running after S is left for redelivery"),
    ] = 900.0,
    grace_seconds: Annotated[
        float, typer.Option("--grace-seconds", metavar="S", help="on Ctrl-C/SIGTERM, time left to running jobs")
    ] = 30.0,
    as_json: JsonOpt = False,
) -> None:
    """Run jobs from the stage's jobs queue with your function and report each result on the
    response queue (docs/jobs-consumer.md). Several consumers may run at once, anywhere."""
    from stack.deploy.outputs import load_outputs
    from stack.jobs_consumer.consumer import Consumer, ConsumerOptions, stopped_by_signals
    from stack.jobs_consumer.handler import load_handler
    from stack.jobs_consumer.stage import JobsStage
    from stack.jobs_consumer.stats import JobOutcome

    options = ConsumerOptions(
        concurrency=concurrency,
        max_jobs=max_jobs,
        idle_exit_s=idle_exit,
        max_job_s=max_job_seconds,
        grace_s=grace_seconds,
    )
    function = load_handler(handler)
    jobs_stage = JobsStage.from_outputs(load_outputs(target, stage))
    _log_to_stderr()

    def observe(outcome: JobOutcome) -> None:
        if not as_json:
            out.print(outcome.describe(), highlight=False, markup=False, soft_wrap=True)

    def stopping() -> None:
        console.print(
            f"stopping: running jobs get {grace_seconds:g} s, receives end with their long poll; "
            "Ctrl-C again quits now",
            highlight=False,
        )

    running = Consumer(jobs_stage, function, options, observe=observe)
    console.print(
        f"consumer for {jobs_stage.jobs_queue_url} · {handler} · {concurrency} at once · Ctrl-C stops it",
        highlight=False,
        soft_wrap=True,
    )
    with stopped_by_signals(running, on_stop=stopping):
        stats = running.run()
    if as_json:
        print_json(stats.as_dict())
    console.print(f"consumer stopped: {stats.summary()}", highlight=False, soft_wrap=True)
