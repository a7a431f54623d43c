"""The partner jobs pattern's consumer machines: long-running processes (not Lambdas) that take
jobs from the jobs queue, run them with a user-supplied function and report on the response queue.

    stage.py        the deployed stage's queues, outputs and boto3 clients, as a consumer sees them
    handler.py      ``module:function`` loaded, as ``--handler`` names it
    attachments.py  a job's attachments, inline or in S3, checked against their size and sha256
    job.py          the typed ``Job`` a handler is called with
    visibility.py   the heartbeat: a running job's message kept invisible, up to the job's deadline
    runner.py       one message: RUNNING, the function, SUCCEEDED/FAILED, and only then the delete
    stats.py        one outcome per message, and the counts a consumer prints at exit
    consumer.py     the loop: worker threads, bounds (--max-jobs, --idle-exit), a clean stop
    process.py      a consumer as a child process (`hookstack consumer`), for tests and drills
    sample_job.py   a handler that inserts customer records into the stage's table

Delivery is at least once: a job runs again when its consumer dies before the delete; the results
function applies a job's result once, because a final status never changes (docs/jobs-consumer.md).
"""
