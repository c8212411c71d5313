"""parliament (duo-labs' IAM linter) over every policy of the SAM-transformed template, with
every parameter branch resolved: no finding above LOW, and each LOW explained below (and in
docs/template.md "IAM")."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.permissions.policies import ACCOUNT, Resolver, transformed_template

pytest.importorskip("parliament", reason="parliament is a dev dependency: run `make venv`")

REGION = "eu-west-2"
# Every optional parameter set, so the !If branches they guard are linted too.
ALL_OPTIONS = {
    "ExtraJobQueueArns": f"arn:aws:batch:{REGION}:{ACCOUNT}:job-queue/shared",
    "ExtraJobDefinitionArns": f"arn:aws:batch:{REGION}:{ACCOUNT}:job-definition/shared:*",
    "DataBuckets": "acme-data,acme-archive",
    "LogS3Url": "s3://acme-logs/batchcron",
    "GitHubTokenSecretArn": f"arn:aws:secretsmanager:{REGION}:{ACCOUNT}:secret:github-token",
    "Subnets": "subnet-0123456789abcdef0",
    "SecurityGroupIds": "sg-0123456789abcdef0",
}
DEFAULTS = {key: ALL_OPTIONS[key] for key in ("Subnets", "SecurityGroupIds")}

# (parliament issue, policy) -> why it is right as it is. Only LOW and INFO may be here.
_SAM_WRITES_NO_VERSION = (
    "SAM generates this policy document without a Version; IAM then reads it as 2008-10-17, "
    "which differs from 2012-10-17 only in policy variables (${aws:...}), and it has none"
)
EXPLAINED: dict[tuple[str, str], str] = {
    ("NO_VERSION", name): _SAM_WRITES_NO_VERSION
    for name in (
        "DispatchFunctionRole/DispatchFunctionEventInvokeConfigOnFailureSQSPolicy",
        "JobStateFunctionRole/JobStateFunctionEventInvokeConfigOnFailureSQSPolicy",
        "DispatchFunctionTickRole/DispatchFunctionTickLambdaPolicy",
        "DispatchFunctionTickRole/DispatchFunctionTickSQSPolicy",
    )
}
# parliament's community auditors (not run by default): what they report, and why it stays.
COMMUNITY_EXPLAINED: dict[tuple[str, str], str] = {
    ("CREDENTIALS_EXPOSURE", "JobExecutionRole/pull-image-and-write-logs"): (
        "ecr:GetAuthorizationToken returns a registry token: ECS needs it to pull the job image "
        "from the stack's private repository (AWS's own AmazonECSTaskExecutionRolePolicy grants "
        "it too); it supports no resource-level permission"
    ),
}


def sample_bindings(template: dict[str, Any]) -> dict[str, str]:
    """Physical names and ARNs of the shape CloudFormation gives each resource."""
    arn = f"arn:aws:{{}}:{REGION}:{ACCOUNT}:{{}}"
    found: dict[str, str] = {}
    for name, resource in template["Resources"].items():
        kind = resource["Type"]
        if kind == "AWS::DynamoDB::Table":
            found[f"Ref {name}"] = f"stack-{name}-1A2B3C"
        elif kind == "AWS::SecretsManager::Secret":
            found[f"Ref {name}"] = arn.format("secretsmanager", f"secret:{name}-AbC123")
        elif kind == "AWS::SQS::Queue":
            found[f"Ref {name}"] = f"https://sqs.{REGION}.amazonaws.com/{ACCOUNT}/stack-{name}"
            found[f"GetAtt {name}.Arn"] = arn.format("sqs", f"stack-{name}")
        elif kind == "AWS::Logs::LogGroup":
            found[f"Ref {name}"] = f"stack-{name}-1A2B3C"
            found[f"GetAtt {name}.Arn"] = arn.format("logs", f"log-group:stack-{name}-1A2B3C:*")
        elif kind == "AWS::IAM::ManagedPolicy":
            found[f"Ref {name}"] = f"arn:aws:iam::{ACCOUNT}:policy/stack-{name}-1A2B3C"
        elif kind == "AWS::Batch::JobQueue":
            found[f"GetAtt {name}.JobQueueArn"] = arn.format("batch", f"job-queue/{name}-1A2B3C")
        elif kind == "AWS::Batch::JobDefinition":
            found[f"GetAtt {name}.JobDefinitionArn"] = arn.format(
                "batch", f"job-definition/{name}-1A2B3C:1"
            )
        elif kind == "AWS::ECR::Repository":
            found[f"GetAtt {name}.Arn"] = arn.format("ecr", f"repository/stack-{name.lower()}")
        elif kind == "AWS::Lambda::Function":
            found[f"GetAtt {name}.Arn"] = arn.format("lambda", f"function:stack-{name}")
        elif kind == "AWS::Events::Rule":
            found[f"GetAtt {name}.Arn"] = arn.format("events", f"rule/stack-{name}")
    return found


def policies(template: dict[str, Any], parameters: dict[str, str]) -> list[tuple[str, Any, bool]]:
    """(name, document, is a resource policy) of every policy in the template, resolved."""
    resolver = Resolver(
        template,
        region=REGION,
        stack_name="batchcron-dev",
        bindings=sample_bindings(template),
        parameters=parameters,
    )
    found: list[tuple[str, Any, bool]] = []
    for name, resource in template["Resources"].items():
        kind = resource["Type"]
        properties = resolver.resolve(resource.get("Properties", {}))
        if kind == "AWS::IAM::Role":
            for policy in properties.get("Policies", []):
                found.append((f"{name}/{policy['PolicyName']}", policy["PolicyDocument"], False))
        elif kind == "AWS::IAM::ManagedPolicy":
            found.append((name, properties["PolicyDocument"], False))
        elif kind == "AWS::SQS::QueuePolicy":
            found.append((name, properties["PolicyDocument"], True))
    return found


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return transformed_template()


@pytest.mark.parametrize("parameters", [DEFAULTS, ALL_OPTIONS], ids=["defaults", "all-options"])
def test_no_parliament_finding_above_low_and_every_low_explained(
    template: dict[str, Any], parameters: dict[str, str]
) -> None:
    import parliament
    from parliament import analyze_policy_string

    linted = policies(template, parameters)
    assert len(linted) >= 9  # 3 function roles x 2, 2 managed, the job roles, the queue policy
    unexplained = []
    for name, document, _resource_policy in linted:
        text = json.dumps(document)
        assert "Unresolved" not in text and "${" not in text, (name, text)
        analyzed = analyze_policy_string(text)
        for finding in analyzed.findings:
            severity = parliament.config.get(finding.issue, {}).get("severity", "UNKNOWN")
            if severity in {"LOW", "INFO"} and (finding.issue, name) in EXPLAINED:
                continue
            unexplained.append(f"{name}: {severity} {finding.issue} {finding.detail}")

    assert unexplained == [], "\n".join(unexplained)


def test_parliament_community_auditors_find_only_what_is_explained(
    template: dict[str, Any],
) -> None:
    from parliament import analyze_policy_string

    found = set()
    for name, document, _ in policies(template, ALL_OPTIONS):
        analyzed = analyze_policy_string(json.dumps(document), include_community_auditors=True)
        found |= {(f.issue, name) for f in analyzed.findings if (f.issue, name) not in EXPLAINED}

    assert found == set(COMMUNITY_EXPLAINED)


def test_parliament_finds_a_bad_policy(template: dict[str, Any]) -> None:
    """The linter is really looking: a condition key Batch does not define for TagResource
    and an ARN of the wrong type for SubmitJob are both reported."""
    from parliament import analyze_policy_string

    bad = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Action": "batch:SubmitJob",
                "Resource": f"arn:aws:batch:{REGION}:{ACCOUNT}:job/*",
            },
            {
                "Effect": "Allow",
                "Action": "batch:TagResource",
                "Resource": f"arn:aws:batch:{REGION}:{ACCOUNT}:job/*",
                "Condition": {"StringEquals": {"batch:NoSuchKey": "x"}},
            },
        ],
    }
    issues = {f.issue for f in analyze_policy_string(json.dumps(bad)).findings}

    assert {"RESOURCE_MISMATCH", "UNKNOWN_CONDITION_FOR_ACTION"} <= issues, issues
