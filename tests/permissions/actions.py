"""What IAM authorizes for each AWS call the functions make: action, resource ARN and the
request context the template's conditions read.

Resource types, ARN formats and condition keys follow the AWS Service Authorization
Reference: "Actions, resources, and condition keys for AWS Batch" (list_awsbatch), "... for
Amazon DynamoDB" (list_amazondynamodb) and "... for AWS Secrets Manager"
(list_awssecretsmanager). An operation missing here fails the check: add it with its row from
those tables rather than guessing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tests.permissions.policies import ACCOUNT, PARTITION, Need
from tests.permissions.recorder import Call

# The id IAM sees for the job SubmitJob creates is not known before the call; any id does for
# matching job/* (batch:TagResource on the new job).
NEW_JOB_ID = "00000000-0000-4000-8000-000000000000"
# Secrets Manager appends a random 6-character suffix to a secret's name in its ARN.
SECRET_SUFFIX = "-AbC123"


def _arn(call: Call, service: str, resource: str) -> str:
    return f"arn:{PARTITION}:{service}:{call.region}:{ACCOUNT}:{resource}"


def _batch_arn(call: Call, kind: str, value: str) -> str:
    """A job queue / job definition given by name or by ARN, as an ARN."""
    if value.startswith("arn:"):
        return value
    return _arn(call, "batch", f"{kind}/{value}")


def _dynamodb(call: Call) -> list[Need]:
    action = f"dynamodb:{call.operation}"
    if call.operation == "BatchGetItem":
        tables = call.params.get("RequestItems", [])
    else:
        tables = [call.params["TableName"]]
    needs = []
    for table in tables:
        arn = table if str(table).startswith("arn:") else _arn(call, "dynamodb", f"table/{table}")
        index = call.params.get("IndexName")
        needs.append(Need(action, f"{arn}/index/{index}" if index else arn))
    return needs


def _submit_job(call: Call) -> list[Need]:
    """SubmitJob is authorized against the job queue, the job definition and the new job
    (resource types job-queue*, job-definition*, job*), each with the request's condition
    keys: aws:RequestTag/<key> and aws:TagKeys from its tags, batch:ShareIdentifier. With
    tags, Batch also authorizes batch:TagResource on the new job."""
    params = call.params
    tags: dict[str, str] = params.get("tags") or {}
    context: dict[str, Any] = {f"aws:RequestTag/{k}": v for k, v in tags.items()}
    if tags:
        context["aws:TagKeys"] = sorted(tags)
    if "shareIdentifier" in params:
        context["batch:ShareIdentifier"] = params["shareIdentifier"]
    job = _arn(call, "batch", f"job/{NEW_JOB_ID}")
    needs = [
        Need("batch:SubmitJob", _batch_arn(call, "job-queue", params["jobQueue"]), context),
        Need(
            "batch:SubmitJob",
            _batch_arn(call, "job-definition", params["jobDefinition"]),
            context,
        ),
        Need("batch:SubmitJob", job, context),
    ]
    if tags:
        needs.append(Need("batch:TagResource", job, context))
    return needs


def _on_job(action: str) -> Callable[[Call], list[Need]]:
    def needs(call: Call) -> list[Need]:
        tags = call.resource_tags or {}
        context = {f"aws:ResourceTag/{k}": v for k, v in tags.items()}
        return [Need(action, _arn(call, "batch", f"job/{call.params['jobId']}"), context)]

    return needs


def _no_resource(action: str) -> Callable[[Call], list[Need]]:
    """Actions with no resource type in the reference: granted on "*" only."""
    return lambda call: [Need(action, "*")]


def _secret(call: Call) -> list[Need]:
    secret = str(call.params["SecretId"])
    if not secret.startswith("arn:"):
        secret = _arn(call, "secretsmanager", f"secret:{secret}{SECRET_SUFFIX}")
    return [Need(f"secretsmanager:{call.operation}", secret)]


NEEDS: dict[tuple[str, str], Callable[[Call], list[Need]]] = {
    **{
        ("dynamodb", operation): _dynamodb
        for operation in (
            "GetItem",
            "BatchGetItem",
            "PutItem",
            "UpdateItem",
            "DeleteItem",
            "Query",
            "Scan",
        )
    },
    ("batch", "SubmitJob"): _submit_job,
    ("batch", "TerminateJob"): _on_job("batch:TerminateJob"),
    ("batch", "CancelJob"): _on_job("batch:CancelJob"),
    ("batch", "DescribeJobs"): _no_resource("batch:DescribeJobs"),
    ("batch", "ListJobs"): _no_resource("batch:ListJobs"),
    ("secretsmanager", "GetSecretValue"): _secret,
    ("secretsmanager", "DescribeSecret"): _secret,
}


class UnmappedCallError(LookupError):
    """A call whose IAM authorization this module does not describe yet."""


def needs(call: Call) -> list[Need]:
    mapped = NEEDS.get((call.service, call.operation))
    if mapped is None:
        raise UnmappedCallError(
            f"{call.function} calls {call.service}:{call.operation} ({call.test}); add it to "
            "tests/permissions/actions.py with its resource type from the AWS reference"
        )
    return mapped(call)
