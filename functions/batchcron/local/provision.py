"""Create what template.yaml declares (runs table, job queue, job definition, secrets) on an
AWS stand-in (moto) — for local mode and the tests. Reads the table shape from the template
so there is no second hand-kept copy."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

TEMPLATE = Path(__file__).resolve().parents[3] / "template.yaml"


class _CfnLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """YAML loader that keeps CloudFormation short-form tags as {"Fn::X": value} (libyaml's
    when PyYAML has it: every test's stack and local mode's start-up parse the template)."""


def _cfn_tag(loader: Any, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {name: value}


_CfnLoader.add_multi_constructor("!", _cfn_tag)


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    with path.open(encoding="utf-8") as handle:
        loaded: dict[str, Any] = yaml.load(handle, Loader=_CfnLoader)
    return loaded


def table_definition(template: dict[str, Any] | None = None) -> dict[str, Any]:
    """CreateTable arguments (minus the name) from the template's RunsTable."""
    template = template or load_template()
    props = template["Resources"]["RunsTable"]["Properties"]
    request: dict[str, Any] = {
        "KeySchema": props["KeySchema"],
        "AttributeDefinitions": props["AttributeDefinitions"],
        "BillingMode": props.get("BillingMode", "PAY_PER_REQUEST"),
    }
    indexes = props.get("GlobalSecondaryIndexes")
    if indexes:
        request["GlobalSecondaryIndexes"] = [
            {key: index[key] for key in ("IndexName", "KeySchema", "Projection")}
            for index in indexes
        ]
    return request


def ttl_attribute(template: dict[str, Any] | None = None) -> str | None:
    template = template or load_template()
    spec = template["Resources"]["RunsTable"]["Properties"].get("TimeToLiveSpecification") or {}
    return spec.get("AttributeName") if spec.get("Enabled") else None


@dataclass(frozen=True)
class Provisioned:
    runs_table: str
    job_queue: str
    job_definition: str
    webhook_secret_arn: str
    slack_secret_arn: str
    log_group: str
    stack_name: str = "batchcron-local"
    slack_bot_token_secret_arn: str = ""
    slack_signing_secret_arn: str = ""

    def environment(self) -> dict[str, str]:
        """The functions' environment, as template.yaml sets it."""
        return {
            "RUNS_TABLE": self.runs_table,
            "JOB_QUEUE": self.job_queue,
            "JOB_DEFINITION": self.job_definition,
            "GITHUB_WEBHOOK_SECRET_ARN": self.webhook_secret_arn,
            "GITHUB_HOSTS": "github.com",  # the template's default
            "SLACK_WEBHOOK_SECRET_ARN": self.slack_secret_arn,
            "SLACK_BOT_TOKEN_SECRET_ARN": self.slack_bot_token_secret_arn,
            "SLACK_SIGNING_SECRET_ARN": self.slack_signing_secret_arn,
            "JOB_LOG_GROUP": self.log_group,
            # Jobs carry batchcron:stack=<this>, which the functions' IAM conditions require.
            "STACK_NAME": self.stack_name,
        }


def provision(
    session: Any,
    *,
    prefix: str = "batchcron-local",
    webhook_secret: str = "local-webhook-secret",
    slack_url: str = "unset",
    slack_bot_token: str = "unset",
    slack_signing_secret: str = "unset",
) -> Provisioned:
    """Create the stack's data plane on the endpoint `session`'s clients reach."""
    template = load_template()
    dynamodb = session.client("dynamodb")
    table = f"{prefix}-RunsTable"
    existing = dynamodb.list_tables()["TableNames"]
    if table not in existing:
        dynamodb.create_table(TableName=table, **table_definition(template))
        attribute = ttl_attribute(template)
        if attribute:
            dynamodb.update_time_to_live(
                TableName=table,
                TimeToLiveSpecification={"Enabled": True, "AttributeName": attribute},
            )

    ec2 = session.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.0.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName=f"{prefix}-sg", Description="batchcron", VpcId=vpc)[
        "GroupId"
    ]
    iam = session.client("iam")
    role = iam.create_role(
        RoleName=f"{prefix}-batch",
        AssumeRolePolicyDocument='{"Version":"2012-10-17","Statement":[]}',
    )["Role"]["Arn"]
    batch = session.client("batch")
    env = batch.create_compute_environment(
        computeEnvironmentName=f"{prefix}-ComputeEnvironment",
        type="MANAGED",
        state="ENABLED",
        computeResources={
            "type": "FARGATE",
            "maxvCpus": 16,
            "subnets": [subnet],
            "securityGroupIds": [group],
        },
        serviceRole=role,
    )["computeEnvironmentArn"]
    queue = batch.create_job_queue(
        jobQueueName=f"{prefix}-JobQueue",
        state="ENABLED",
        priority=1,
        computeEnvironmentOrder=[{"order": 1, "computeEnvironment": env}],
    )["jobQueueArn"]
    definition = batch.register_job_definition(
        jobDefinitionName=f"{prefix}-JobDefinition",
        type="container",
        platformCapabilities=["FARGATE"],
        containerProperties={
            "image": "batchcron-image:local",
            "command": ["fetch_and_run.sh"],
            "resourceRequirements": [
                {"type": "VCPU", "value": "1"},
                {"type": "MEMORY", "value": "2048"},
            ],
            "executionRoleArn": role,
            "logConfiguration": {"logDriver": "awslogs"},
        },
        propagateTags=True,
    )["jobDefinitionArn"]

    secrets = session.client("secretsmanager")
    webhook = secrets.create_secret(Name=f"{prefix}/WebhookSecret", SecretString=webhook_secret)[
        "ARN"
    ]
    slack = secrets.create_secret(Name=f"{prefix}/SlackWebhookSecret", SecretString=slack_url)[
        "ARN"
    ]
    bot_token = secrets.create_secret(
        Name=f"{prefix}/SlackBotTokenSecret", SecretString=slack_bot_token
    )["ARN"]
    signing = secrets.create_secret(
        Name=f"{prefix}/SlackSigningSecret", SecretString=slack_signing_secret
    )["ARN"]
    logs = session.client("logs")
    log_group = f"/aws/batch/{prefix}"
    logs.create_log_group(logGroupName=log_group)
    return Provisioned(
        table,
        queue,
        definition,
        webhook,
        slack,
        log_group,
        stack_name=prefix,
        slack_bot_token_secret_arn=bot_token,
        slack_signing_secret_arn=signing,
    )
