"""Grants no recorded call uses, each with why the function needs it anyway: AWS uses the
function's role on its behalf (Lambda's own logging, X-Ray, async failure destinations)."""

from __future__ import annotations

JUSTIFIED: dict[tuple[str, str], str] = {}
for _function in ("DispatchFunction", "WebhookFunction", "JobStateFunction"):
    JUSTIFIED[(_function, "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole")] = (
        "the Lambda service writes the function's own log lines (logs:CreateLogStream, "
        "logs:PutLogEvents; LoggingConfig names its log group) with the function's role"
    )
    JUSTIFIED[(_function, "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess")] = (
        "SAM adds it for Tracing: !Ref Tracing; with Tracing=Active the Lambda service and the "
        "Powertools tracer send segments (xray:PutTraceSegments, xray:PutTelemetryRecords)"
    )
for _function in ("DispatchFunction", "JobStateFunction"):
    JUSTIFIED[(_function, "sqs:SendMessage")] = (
        "EventInvokeConfig OnFailure: the Lambda service sends an event that failed every "
        "retry to the function's failure queue with the function's role"
    )

# Code paths the suites do not reach through these functions' entry points, with where they are.
JUSTIFIED[("WebhookFunction", "batch:TerminateJob")] = (
    "a push to a `concurrency: replace` job terminates its running run first "
    "(scheduling/submit.py Submitter.start, the one submit path every trigger takes)"
)
JUSTIFIED[("JobStateFunction", "batch:TerminateJob")] = (
    "a finished run starts its `after:` jobs through the same Submitter.start, which terminates "
    "a `concurrency: replace` job's running run"
)
JUSTIFIED[("JobStateFunction", "batch:ListJobs")] = (
    "after an ambiguous SubmitJob error (timeout, 5xx) adapters/batch.py looks the job up by "
    "name (ListJobs) before retrying, on the job-state function's downstream submits too"
)
