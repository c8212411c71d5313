"""Run in a child process by test_tracing.py: each handler imported and invoked the way Lambda
runs it with `Tracing: Active` (Powertools tracer on, an X-Ray trace header, a UDP daemon
address), under moto. Prints one JSON line: what each handler answered."""

from __future__ import annotations

import json
import os
import sys

import boto3
from moto import mock_aws

from batchcron.local.provision import provision
from tests.conftest import fresh_push_event, load_event


class Context:
    function_name = "traced"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:eu-west-2:123456789012:function:traced"
    aws_request_id = "00000000-0000-0000-0000-000000000001"

    @staticmethod
    def get_remaining_time_in_millis() -> int:
        return 30_000


def main() -> None:
    with mock_aws(config={"batch": {"use_docker": False}}):
        provisioned = provision(boto3.session.Session(region_name="eu-west-2"))
        os.environ.update(provisioned.environment())
        from batchcron.handlers import dispatch, job_state, webhook

        results = {
            "dispatch": dispatch.handler(load_event("dispatch_tick.json"), Context()),
            "webhook": webhook.handler(fresh_push_event(), Context()),
            "job_state": job_state.handler(load_event("batch_job_running.json"), Context()),
        }
    json.dump(results, sys.stdout, default=str)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
