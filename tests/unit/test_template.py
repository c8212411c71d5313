"""The SAM template and samconfig keep the contract the code relies on: logical IDs, handlers,
environment names, outputs, the tick wiring, the run store's shape and least-privilege IAM."""

from __future__ import annotations

import json
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
SAMCONFIG = ROOT / "samconfig.toml"


class CfnLoader(yaml.SafeLoader):
    """SafeLoader that turns CloudFormation short-form tags into their long form."""


def _construct_tag(loader: CfnLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    key = suffix if suffix in ("Ref", "Condition") else f"Fn::{suffix}"
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        assert isinstance(node, yaml.MappingNode)
        value = loader.construct_mapping(node, deep=True)
    return {key: value}


CfnLoader.add_multi_constructor("!", _construct_tag)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load(TEMPLATE.read_text(encoding="utf-8"), Loader=CfnLoader)
    return loaded


@pytest.fixture(scope="module")
def resources(template: dict[str, Any]) -> dict[str, Any]:
    return template["Resources"]


def props(resources: dict[str, Any], logical_id: str) -> dict[str, Any]:
    return resources[logical_id]["Properties"]


def walk(node: Any) -> Iterator[Any]:
    """Every dict and list inside node, depth first."""
    yield node
    if isinstance(node, dict):
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)


def if_branches(value: Any) -> list[Any]:
    """The branches of an Fn::If, or the value itself when it is not one."""
    if isinstance(value, dict) and "Fn::If" in value:
        return list(value["Fn::If"][1:])
    return [value]


def statements(node: Any) -> Iterator[dict[str, Any]]:
    """Every IAM statement inside node (including those behind Fn::If)."""
    for item in walk(node):
        if isinstance(item, dict) and "Statement" in item:
            for statement in item["Statement"]:
                for branch in if_branches(statement):
                    if isinstance(branch, dict) and "Effect" in branch:
                        yield branch


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


# ---------------------------------------------------------------- resources and parameters

EXPECTED_RESOURCES = {
    "DispatchFunction": "AWS::Serverless::Function",
    "WebhookFunction": "AWS::Serverless::Function",
    "JobStateFunction": "AWS::Serverless::Function",
    "RunsTable": "AWS::DynamoDB::Table",
    "ComputeEnvironment": "AWS::Batch::ComputeEnvironment",
    "JobQueue": "AWS::Batch::JobQueue",
    "JobDefinition": "AWS::Batch::JobDefinition",
    "JobLogGroup": "AWS::Logs::LogGroup",
    "ImageRepository": "AWS::ECR::Repository",
    "WebhookSecret": "AWS::SecretsManager::Secret",
    "SlackWebhookSecret": "AWS::SecretsManager::Secret",
    "TickDeadLetterQueue": "AWS::SQS::Queue",
    "DispatchFailureQueue": "AWS::SQS::Queue",
    "JobStateFailureQueue": "AWS::SQS::Queue",
}


@pytest.mark.parametrize(("logical_id", "resource_type"), sorted(EXPECTED_RESOURCES.items()))
def test_resource_exists_with_type(
    resources: dict[str, Any], logical_id: str, resource_type: str
) -> None:
    assert resources[logical_id]["Type"] == resource_type


def test_no_resource_sets_a_physical_name(resources: dict[str, Any]) -> None:
    # Generated names are what let the dev and prod stacks share one account.
    name_properties = {
        "TableName",
        "FunctionName",
        "JobQueueName",
        "ComputeEnvironmentName",
        "JobDefinitionName",
        "RepositoryName",
        "QueueName",
        "RoleName",
        "ManagedPolicyName",
        "LogGroupName",
        "Name",
    }
    for logical_id, resource in resources.items():
        named = name_properties & set(resource.get("Properties", {}))
        assert not named, f"{logical_id} sets {named}"


def test_parameters_present(template: dict[str, Any]) -> None:
    expected = {
        "Stage",
        "SchedulesEnabled",
        "ImageUri",
        "Subnets",
        "SecurityGroupIds",
        "AssignPublicIp",
        "MaxvCpus",
        "ExtraJobQueueArns",
        "ExtraJobDefinitionArns",
        "DataBuckets",
        "LogS3Url",
        "AllowedBatchFileUrlPrefixes",
        "GitHubTokenSecretArn",
        "LogRetentionDays",
        "RunnableTimeLimitSeconds",
        "LogLevel",
        "Tracing",
        "CpuArchitecture",
    }
    assert expected <= set(template["Parameters"])


def test_parameter_types_and_defaults(template: dict[str, Any]) -> None:
    params = template["Parameters"]
    assert params["SchedulesEnabled"]["Default"] == "false"
    assert params["Subnets"]["Type"] == "List<AWS::EC2::Subnet::Id>"
    assert params["SecurityGroupIds"]["Type"] == "List<AWS::EC2::SecurityGroup::Id>"
    for name in ("ExtraJobQueueArns", "ExtraJobDefinitionArns", "DataBuckets"):
        assert params[name]["Type"] == "CommaDelimitedList"
        assert params[name]["Default"] == ""
    limit = params["RunnableTimeLimitSeconds"]
    assert (limit["Default"], limit["MinValue"], limit["MaxValue"]) == (3600, 600, 86400)
    assert params["Tracing"]["Default"] == "PassThrough"
    assert set(params["Tracing"]["AllowedValues"]) == {"Active", "PassThrough"}
    assert params["CpuArchitecture"]["Default"] == "X86_64"
    assert params["LogLevel"]["Default"] == "INFO"


# ---------------------------------------------------------------- functions

HANDLERS = {
    "DispatchFunction": "batchcron.handlers.dispatch.handler",
    "WebhookFunction": "batchcron.handlers.webhook.handler",
    "JobStateFunction": "batchcron.handlers.job_state.handler",
}


@pytest.mark.parametrize(("logical_id", "handler"), sorted(HANDLERS.items()))
def test_function_handler_and_runtime(
    template: dict[str, Any], resources: dict[str, Any], logical_id: str, handler: str
) -> None:
    function = {**template["Globals"]["Function"], **props(resources, logical_id)}
    assert function["Handler"] == handler
    assert function["CodeUri"] == "functions/"
    assert function["Runtime"] == "python3.12"
    assert function["Architectures"] == ["arm64"]


def test_globals_environment(template: dict[str, Any]) -> None:
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["POWERTOOLS_SERVICE_NAME"] == "batchcron"
    assert variables["POWERTOOLS_METRICS_NAMESPACE"] == "batchcron"
    assert variables["POWERTOOLS_LOG_LEVEL"] == {"Ref": "LogLevel"}
    assert variables["POWERTOOLS_TRACE_DISABLED"] == {"Fn::If": ["TracingActive", "false", "true"]}
    assert variables["RUNS_TABLE"] == {"Ref": "RunsTable"}
    assert variables["JOB_QUEUE"] == {"Fn::GetAtt": ["JobQueue", "JobQueueArn"]}
    assert variables["JOB_DEFINITION"] == {"Fn::GetAtt": ["JobDefinition", "JobDefinitionArn"]}
    assert variables["EXTRA_JOB_QUEUE_ARNS"] == {"Fn::Join": [",", {"Ref": "ExtraJobQueueArns"}]}
    assert variables["EXTRA_JOB_DEFINITION_ARNS"] == {
        "Fn::Join": [",", {"Ref": "ExtraJobDefinitionArns"}]
    }
    assert variables["SLACK_WEBHOOK_SECRET_ARN"] == {"Ref": "SlackWebhookSecret"}
    assert variables["JOB_LOG_GROUP"] == {"Ref": "JobLogGroup"}
    assert variables["STAGE"] == {"Ref": "Stage"}
    assert template["Globals"]["Function"]["Tracing"] == {"Ref": "Tracing"}
    assert template["Conditions"]["TracingActive"] == {"Fn::Equals": [{"Ref": "Tracing"}, "Active"]}


def test_webhook_function_url_and_secret(resources: dict[str, Any]) -> None:
    webhook = props(resources, "WebhookFunction")
    assert webhook["FunctionUrlConfig"]["AuthType"] == "NONE"
    assert webhook["Timeout"] == 10
    assert webhook["Environment"]["Variables"]["GITHUB_WEBHOOK_SECRET_ARN"] == {
        "Ref": "WebhookSecret"
    }


def test_webhook_hosts_come_from_the_github_hosts_parameter(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    webhook = props(resources, "WebhookFunction")
    assert webhook["Environment"]["Variables"]["GITHUB_HOSTS"] == {"Ref": "GitHubHosts"}
    assert template["Parameters"]["GitHubHosts"]["Default"] == "github.com"


def test_tick_event(template: dict[str, Any], resources: dict[str, Any]) -> None:
    tick = props(resources, "DispatchFunction")["Events"]["Tick"]
    assert tick["Type"] == "ScheduleV2"
    tick_props = tick["Properties"]
    assert tick_props["ScheduleExpression"] in ("cron(* * * * ? *)", "rate(1 minute)")
    assert json.loads(tick_props["Input"]) == {"scheduled_time": "<aws.scheduler.scheduled-time>"}
    assert tick_props["State"] == {"Fn::If": ["SchedulesOn", "ENABLED", "DISABLED"]}
    assert template["Conditions"]["SchedulesOn"] == {
        "Fn::Equals": [{"Ref": "SchedulesEnabled"}, "true"]
    }
    # SAM would otherwise name the schedule after its logical ID: two stacks would collide.
    assert tick_props["OmitName"] is True
    assert tick_props["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    assert tick_props["DeadLetterConfig"]["Arn"] == {"Fn::GetAtt": ["TickDeadLetterQueue", "Arn"]}


@pytest.mark.parametrize(
    ("logical_id", "queue"),
    [("DispatchFunction", "DispatchFailureQueue"), ("JobStateFunction", "JobStateFailureQueue")],
)
def test_async_failure_destination(resources: dict[str, Any], logical_id: str, queue: str) -> None:
    config = props(resources, logical_id)["EventInvokeConfig"]
    assert config["MaximumRetryAttempts"] >= 1
    on_failure = config["DestinationConfig"]["OnFailure"]
    assert on_failure == {"Type": "SQS", "Destination": {"Fn::GetAtt": [queue, "Arn"]}}


def test_job_state_rule(resources: dict[str, Any]) -> None:
    event = props(resources, "JobStateFunction")["Events"]["BatchJobStateChange"]
    assert event["Type"] == "EventBridgeRule"
    pattern = event["Properties"]["Pattern"]
    assert pattern["source"] == ["aws.batch"]
    assert pattern["detail-type"] == ["Batch Job State Change"]
    own_queue = {"Fn::GetAtt": ["JobQueue", "JobQueueArn"]}
    with_extras, without_extras = if_branches(pattern["detail"]["jobQueue"])
    assert without_extras == [own_queue]
    assert own_queue in list(walk(with_extras))
    assert {"Ref": "ExtraJobQueueArns"} in list(walk(with_extras))
    assert event["Properties"]["RetryPolicy"]["MaximumRetryAttempts"] >= 1
    assert "Arn" in event["Properties"]["DeadLetterConfig"]


def test_queues_are_encrypted(resources: dict[str, Any]) -> None:
    queues = [r for r in resources.values() if r["Type"] == "AWS::SQS::Queue"]
    assert len(queues) >= 3
    for queue in queues:
        assert queue["Properties"]["SqsManagedSseEnabled"] is True


# ---------------------------------------------------------------- run store


def test_runs_table_shape(resources: dict[str, Any]) -> None:
    table = props(resources, "RunsTable")
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"] is True
    assert table["SSESpecification"]["SSEEnabled"] is True
    assert table["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert table["KeySchema"] == [
        {"AttributeName": "pk", "KeyType": "HASH"},
        {"AttributeName": "sk", "KeyType": "RANGE"},
    ]
    indexes = {
        index["IndexName"]: (
            [(key["AttributeName"], key["KeyType"]) for key in index["KeySchema"]],
            index["Projection"]["ProjectionType"],
        )
        for index in table["GlobalSecondaryIndexes"]
    }
    assert indexes == {
        "ByTime": ([("gsi1pk", "HASH"), ("gsi1sk", "RANGE")], "ALL"),
        "ByBatchJobId": ([("batch_job_id", "HASH")], "ALL"),
        "ByJobTime": ([("job", "HASH"), ("gsi1sk", "RANGE")], "ALL"),
        "Outbox": ([("outbox_pk", "HASH"), ("outbox_sk", "RANGE")], "ALL"),
    }
    attribute_types = {
        a["AttributeName"]: a["AttributeType"] for a in table["AttributeDefinitions"]
    }
    assert attribute_types == dict.fromkeys(
        ["pk", "sk", "gsi1pk", "gsi1sk", "batch_job_id", "job", "outbox_pk", "outbox_sk"], "S"
    )


# ---------------------------------------------------------------- Batch


def test_job_queue_cancels_stuck_runnable_jobs(resources: dict[str, Any]) -> None:
    actions = props(resources, "JobQueue")["JobStateTimeLimitActions"]
    assert {action["Reason"] for action in actions} == {
        "CAPACITY:INSUFFICIENT_INSTANCE_CAPACITY",
        "MISCONFIGURATION:COMPUTE_ENVIRONMENT_MAX_RESOURCE",
        "MISCONFIGURATION:JOB_RESOURCE_REQUIREMENT",
    }
    for action in actions:
        assert action["Action"] == "CANCEL"
        assert action["State"] == "RUNNABLE"
        assert action["MaxTimeSeconds"] == {"Ref": "RunnableTimeLimitSeconds"}


def test_compute_environment_is_managed_fargate(resources: dict[str, Any]) -> None:
    environment = props(resources, "ComputeEnvironment")
    assert environment["Type"] == "MANAGED"
    compute = environment["ComputeResources"]
    assert compute["Type"] == "FARGATE"
    assert compute["Subnets"] == {"Ref": "Subnets"}
    assert compute["SecurityGroupIds"] == {"Ref": "SecurityGroupIds"}
    assert compute["MaxvCpus"] == {"Ref": "MaxvCpus"}


def test_job_definition(resources: dict[str, Any]) -> None:
    definition = props(resources, "JobDefinition")
    assert definition["Type"] == "container"
    assert definition["PlatformCapabilities"] == ["FARGATE"]
    assert definition["PropagateTags"] is True
    container = definition["ContainerProperties"]
    assert container["Image"] == {"Ref": "ImageUri"}
    requirements = {r["Type"]: r["Value"] for r in container["ResourceRequirements"]}
    assert requirements == {"VCPU": "1", "MEMORY": "2048"}
    assert container["RuntimePlatform"] == {
        "CpuArchitecture": {"Ref": "CpuArchitecture"},
        "OperatingSystemFamily": "LINUX",
    }
    assert container["NetworkConfiguration"]["AssignPublicIp"] == {"Ref": "AssignPublicIp"}
    log = container["LogConfiguration"]
    assert log["LogDriver"] == "awslogs"
    assert log["Options"]["awslogs-group"] == {"Ref": "JobLogGroup"}
    env_names = {
        branch["Name"]
        for entry in container["Environment"]
        for branch in if_branches(entry)
        if isinstance(branch, dict) and "Name" in branch
    }
    assert env_names == {"LOG_S3_URL", "ALLOWED_BATCH_FILE_URL_PREFIXES"}
    with_token, without_token = if_branches(container["Secrets"])
    assert container["Secrets"]["Fn::If"][0] == "HasGitHubToken"
    assert with_token == [{"Name": "GITHUB_TOKEN", "ValueFrom": {"Ref": "GitHubTokenSecretArn"}}]
    assert without_token == {"Ref": "AWS::NoValue"}


def test_image_repository_scans_and_expires(resources: dict[str, Any]) -> None:
    repository = props(resources, "ImageRepository")
    assert repository["ImageScanningConfiguration"]["ScanOnPush"] is True
    rules = json.loads(repository["LifecyclePolicy"]["LifecyclePolicyText"])["rules"]
    assert any(rule["selection"]["tagStatus"] == "untagged" for rule in rules)
    assert any(rule["selection"]["countType"] == "imageCountMoreThan" for rule in rules)


# ---------------------------------------------------------------- secrets


def test_webhook_secret_is_a_bare_generated_string(resources: dict[str, Any]) -> None:
    generate = props(resources, "WebhookSecret")["GenerateSecretString"]
    assert generate["PasswordLength"] == 40
    assert generate["ExcludePunctuation"] is True
    # The secret string is the webhook secret itself, not a JSON document.
    assert "SecretStringTemplate" not in generate
    assert "GenerateStringKey" not in generate


def test_slack_secret_starts_as_documented_placeholder(resources: dict[str, Any]) -> None:
    assert props(resources, "SlackWebhookSecret")["SecretString"] == "unset"


# ---------------------------------------------------------------- IAM


def test_no_wildcard_actions(resources: dict[str, Any]) -> None:
    found = list(statements(resources))
    assert len(found) >= 10
    for statement in found:
        for action in as_list(statement["Action"]):
            assert action != "*"
            assert not action.endswith(":*"), action


def test_resource_star_only_for_actions_without_resource_support(
    resources: dict[str, Any],
) -> None:
    allowed = {"batch:DescribeJobs", "batch:ListJobs", "ecr:GetAuthorizationToken"}
    for statement in statements(resources):
        if "*" in as_list(statement.get("Resource")):
            assert set(as_list(statement["Action"])) <= allowed, statement


def _batch_statements(resources: dict[str, Any]) -> list[dict[str, Any]]:
    return list(statements(props(resources, "BatchAccessPolicy")["PolicyDocument"]))


def test_batch_policy_attached_to_every_function(resources: dict[str, Any]) -> None:
    for logical_id in HANDLERS:
        assert {"Ref": "BatchAccessPolicy"} in props(resources, logical_id)["Policies"]


JOB_ARN = {"Fn::Sub": "arn:${AWS::Partition}:batch:${AWS::Region}:${AWS::AccountId}:job/*"}
STACK_TAG = "batchcron:stack"


def _granting(resources: dict[str, Any], action: str) -> list[dict[str, Any]]:
    """Every statement anywhere in the template that allows `action`."""
    return [
        statement
        for statement in statements(resources)
        if statement["Effect"] == "Allow" and action in as_list(statement["Action"])
    ]


def _submit_statement(resources: dict[str, Any]) -> dict[str, Any]:
    [statement] = _granting(resources, "batch:SubmitJob")
    return statement


def _joined_resources(statement: dict[str, Any]) -> list[Any]:
    """The items of the statement's Resource: !Split [",", !Join [",", [...]]]."""
    delimiter, joined = statement["Resource"]["Fn::Split"]
    join_delimiter, items = joined["Fn::Join"]
    assert delimiter == join_delimiter == ","
    return list(items)


def test_batch_policy_covers_queue_definitions_extras_and_jobs(resources: dict[str, Any]) -> None:
    granted: dict[str, list[Any]] = {}
    for statement in _batch_statements(resources):
        for action in as_list(statement["Action"]):
            granted.setdefault(action, []).append(statement["Resource"])
    submit = _joined_resources(_submit_statement(resources))
    assert {"Fn::GetAtt": ["JobQueue", "JobQueueArn"]} in submit
    assert JOB_ARN in submit  # SubmitJob is authorized against the new job too
    extras = {item["Fn::If"][0]: item["Fn::If"][1:] for item in submit if "Fn::If" in item}
    assert extras == {
        "HasExtraJobQueues": [{"Fn::Join": [",", {"Ref": "ExtraJobQueueArns"}]}, NO_VALUE],
        "HasExtraJobDefinitions": [
            {"Fn::Join": [",", {"Ref": "ExtraJobDefinitionArns"}]},
            NO_VALUE,
        ],
    }
    definition_arns = [r for r in submit if "Fn::Sub" in r and isinstance(r["Fn::Sub"], list)]
    assert any(r["Fn::Sub"][0].endswith(":${DefinitionPath}:*") for r in definition_arns)
    assert granted["batch:TagResource"] == [JOB_ARN]
    assert granted["batch:TerminateJob"] == [JOB_ARN]
    assert granted["batch:DescribeJobs"] == ["*"]
    assert granted["batch:ListJobs"] == ["*"]


NO_VALUE = {"Ref": "AWS::NoValue"}


def test_terminate_only_jobs_this_stack_tagged(resources: dict[str, Any]) -> None:
    grants = _granting(resources, "batch:TerminateJob")
    assert grants
    for statement in grants:
        assert statement["Condition"]["StringEquals"] == {
            f"aws:ResourceTag/{STACK_TAG}": {"Ref": "AWS::StackName"}
        }, statement


def test_tagging_only_at_submit_with_this_stacks_tag(resources: dict[str, Any]) -> None:
    grants = _granting(resources, "batch:TagResource")
    assert grants
    for statement in grants:
        # Its own statement: the request-tag condition must not also gate SubmitJob.
        assert as_list(statement["Action"]) == ["batch:TagResource"]
        assert statement["Resource"] == JOB_ARN
        condition = statement["Condition"]
        assert condition["StringEquals"] == {
            f"aws:RequestTag/{STACK_TAG}": {"Ref": "AWS::StackName"}
        }
        assert condition["ForAllValues:StringLike"] == {"aws:TagKeys": ["batchcron:*"]}
    assert "Condition" not in _submit_statement(resources)


def test_functions_know_their_stack_for_the_job_tag(template: dict[str, Any]) -> None:
    from batchcron.scheduling.submit import STACK_TAG as code_tag

    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["STACK_NAME"] == {"Ref": "AWS::StackName"}
    assert code_tag == STACK_TAG


def test_webhook_reserved_concurrency_from_a_parameter(
    template: dict[str, Any], resources: dict[str, Any]
) -> None:
    parameter = template["Parameters"]["WebhookReservedConcurrency"]
    assert (parameter["Type"], parameter["Default"], parameter["MinValue"]) == ("Number", 10, 1)
    assert props(resources, "WebhookFunction")["ReservedConcurrentExecutions"] == {
        "Ref": "WebhookReservedConcurrency"
    }
    for logical_id in ("DispatchFunction", "JobStateFunction"):
        assert "ReservedConcurrentExecutions" not in props(resources, logical_id)


def _secret_resources(resources: dict[str, Any], logical_id: str) -> list[Any]:
    return [
        resource
        for statement in statements(props(resources, logical_id)["Policies"])
        if "secretsmanager:GetSecretValue" in as_list(statement["Action"])
        for resource in as_list(statement["Resource"])
    ]


def test_secret_access_per_function(resources: dict[str, Any]) -> None:
    slack = {"Ref": "SlackWebhookSecret"}
    per_job = {
        "Fn::Sub": "arn:${AWS::Partition}:secretsmanager:${AWS::Region}:${AWS::AccountId}"
        ":secret:batchcron/slack/*"
    }
    bot_token = {"Ref": "SlackBotTokenSecret"}
    for logical_id in ("DispatchFunction", "JobStateFunction"):
        assert _secret_resources(resources, logical_id) == [slack, per_job, bot_token]
    # The webhook verifies presses with the signing secret and answers a refused user with
    # the bot token (chat.postEphemeral).
    assert _secret_resources(resources, "WebhookFunction") == [
        {"Ref": "WebhookSecret"},
        {"Ref": "SlackSigningSecret"},
        bot_token,
    ]


def test_slack_app_mode_configuration(template: dict[str, Any]) -> None:
    """Two secrets created unset (app mode off), SlackChannel and SlackAllowedUsers passed on."""
    resources = template["Resources"]
    for name in ("SlackBotTokenSecret", "SlackSigningSecret"):
        assert resources[name]["Type"] == "AWS::SecretsManager::Secret"
        assert resources[name]["Properties"]["SecretString"] == "unset"
    for name in ("SlackChannel", "SlackAllowedUsers"):
        assert template["Parameters"][name]["Default"] == ""
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    assert variables["SLACK_BOT_TOKEN_SECRET_ARN"] == {"Ref": "SlackBotTokenSecret"}
    assert variables["SLACK_CHANNEL"] == {"Ref": "SlackChannel"}
    assert variables["SLACK_ALLOWED_USERS"] == {"Ref": "SlackAllowedUsers"}
    webhook = props(resources, "WebhookFunction")["Environment"]["Variables"]
    assert webhook["SLACK_SIGNING_SECRET_ARN"] == {"Ref": "SlackSigningSecret"}


def _dynamodb_calls_in_code() -> set[str]:
    """The IAM action of every DynamoDB client call the functions' code makes (boto3's
    snake_case operation names, looked for as `.<name>(`). The CLI and local mode run with the
    operator's credentials, not the functions' role."""
    import re

    import botocore.session

    model = botocore.session.get_session().get_service_model("dynamodb")
    operations = {
        re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower(): name for name in model.operation_names
    }
    package = ROOT / "functions" / "batchcron"
    sources = [
        path
        for path in package.rglob("*.py")
        if path.relative_to(package).parts[0] not in ("cli", "local")
        and path.name != "provision.py"
    ]
    code = "\n".join(path.read_text(encoding="utf-8") for path in sources)
    return {f"dynamodb:{name}" for snake, name in operations.items() if f".{snake}(" in code}


def test_dynamodb_grant_is_exactly_what_the_code_calls(resources: dict[str, Any]) -> None:
    used = _dynamodb_calls_in_code()
    assert {"dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:Query"} <= used  # the grep works
    grants = _granting(resources, "dynamodb:GetItem")
    assert len(grants) == 1
    granted = set(as_list(grants[0]["Action"]))
    assert granted == used
    assert grants[0]["Resource"] == [
        {"Fn::GetAtt": ["RunsTable", "Arn"]},
        {"Fn::Sub": "${RunsTable.Arn}/index/*"},
    ]
    every_dynamodb_action = {
        action
        for statement in statements(resources)
        for action in as_list(statement["Action"])
        if action.startswith("dynamodb:")
    }
    assert every_dynamodb_action == used


def test_functions_use_the_explicit_runs_table_policy(resources: dict[str, Any]) -> None:
    for logical_id in HANDLERS:
        policies = props(resources, logical_id)["Policies"]
        assert {"Ref": "RunsTableAccessPolicy"} in policies
        assert not any(isinstance(p, dict) and "DynamoDBCrudPolicy" in p for p in policies)
    assert "DynamoDBCrudPolicy" not in TEMPLATE.read_text(encoding="utf-8")


# ---------------------------------------------------------------- expressions


def _evaluate(node: Any, parameters: dict[str, str]) -> Any:
    """A tiny CloudFormation evaluator: Ref to a parameter, Sub of parameters, Split, Select,
    Join. Raises KeyError on anything else (the caller skips those)."""
    if isinstance(node, str):
        return node
    if isinstance(node, list):
        return [_evaluate(item, parameters) for item in node]
    (function, argument), *_ = node.items()
    if function == "Ref":
        return parameters[argument]
    if function == "Fn::Sub" and isinstance(argument, str):
        import re

        return re.sub(r"\$\{([A-Za-z0-9]+)\}", lambda m: parameters[m.group(1)], argument)
    if function == "Fn::Split":
        return str(_evaluate(argument[1], parameters)).split(argument[0])
    if function == "Fn::Join":
        return argument[0].join(_evaluate(argument[1], parameters))
    if function == "Fn::Select":
        items = _evaluate(argument[1], parameters)
        index = int(argument[0])
        assert 0 <= index < len(items), f"Select {index} of {items!r}"
        return items[index]
    raise KeyError(function)


@pytest.mark.parametrize(
    "log_s3_url", ["", "s3://run-logs", "s3://run-logs/", "s3://run-logs/batchcron/dev"]
)
def test_every_select_over_a_parameter_is_in_range(
    template: dict[str, Any], log_s3_url: str
) -> None:
    # CloudFormation may evaluate both branches of an If, so a Select must be in range for
    # every value the parameter allows, the empty default included.
    parameters = {name: str(p.get("Default", "")) for name, p in template["Parameters"].items()}
    parameters["LogS3Url"] = log_s3_url
    selects = [n for n in walk(template["Resources"]) if isinstance(n, dict) and "Fn::Select" in n]
    evaluated = []
    for node in selects:
        try:
            evaluated.append(_evaluate(node, parameters))
        except KeyError:
            continue  # depends on a resource attribute, known only at deploy time
    assert evaluated, "the LogS3Url bucket expression was not found"


def test_log_bucket_is_the_bucket_of_the_url(resources: dict[str, Any]) -> None:
    role = props(resources, "JobRole")
    policy = next(
        branch
        for p in role["Policies"]
        for branch in if_branches(p)
        if isinstance(branch, dict) and branch.get("PolicyName") == "run-logs-put"
    )
    bucket = policy["PolicyDocument"]["Statement"][0]["Resource"]["Fn::Sub"][1]["LogBucket"]
    assert _evaluate(bucket, {"LogS3Url": "s3://run-logs/batchcron/dev"}) == "run-logs"
    assert _evaluate(bucket, {"LogS3Url": "s3://run-logs"}) == "run-logs"


def test_cpu_architecture_is_what_the_image_is_built_for(template: dict[str, Any]) -> None:
    # The Dockerfile downloads x86_64 binaries and `make image` builds linux/amd64.
    assert template["Parameters"]["CpuArchitecture"]["AllowedValues"] == ["X86_64"]
    dockerfile = (ROOT / "batch_image" / "Dockerfile").read_text(encoding="utf-8")
    assert "aarch64" not in dockerfile and "arm64" not in dockerfile


# ---------------------------------------------------------------- outputs and samconfig


def test_outputs(template: dict[str, Any]) -> None:
    outputs = template["Outputs"]
    assert {
        "WebhookUrl",
        "RunsTableName",
        "JobQueueArn",
        "JobDefinitionArn",
        "ImageRepositoryUri",
        "JobLogGroupName",
    } <= set(outputs)
    assert outputs["WebhookUrl"]["Value"] == {"Fn::GetAtt": ["WebhookFunctionUrl", "FunctionUrl"]}
    assert outputs["RunsTableName"]["Value"] == {"Ref": "RunsTable"}
    assert outputs["JobLogGroupName"]["Value"] == {"Ref": "JobLogGroup"}


@pytest.fixture(scope="module")
def samconfig() -> dict[str, Any]:
    with SAMCONFIG.open("rb") as handle:
        return tomllib.load(handle)


def _overrides(samconfig: dict[str, Any], environment: str) -> dict[str, str]:
    overrides = samconfig[environment]["deploy"]["parameters"]["parameter_overrides"]
    return dict(item.split("=", 1) for item in overrides)


@pytest.mark.parametrize(
    ("environment", "stack_name", "schedules"),
    [("default", "batchcron-dev", "false"), ("prod", "batchcron-prod", "true")],
)
def test_samconfig_environment(
    samconfig: dict[str, Any],
    template: dict[str, Any],
    environment: str,
    stack_name: str,
    schedules: str,
) -> None:
    assert samconfig["version"] == 0.1
    env = samconfig[environment]
    assert env["global"]["parameters"]["stack_name"] == stack_name
    assert env["build"]["parameters"] == {"cached": True, "parallel": True}
    assert env["validate"]["parameters"]["lint"] is True
    deploy = env["deploy"]["parameters"]
    assert deploy["capabilities"] == "CAPABILITY_IAM"
    assert deploy["confirm_changeset"] is True
    assert deploy["resolve_s3"] is True
    overrides = _overrides(samconfig, environment)
    assert overrides["SchedulesEnabled"] == schedules
    assert set(overrides) <= set(template["Parameters"])
    assert {"Subnets", "SecurityGroupIds"} <= set(overrides)
    # The image comes from `make push-image` after the first deploy, never a :latest here.
    assert "ImageUri" not in overrides


def _rule_allows(template: dict[str, Any], parameters: dict[str, str]) -> bool:
    """Does ImageBeforeSchedules let a deploy with these parameters through?"""

    def value(node: Any) -> Any:
        if isinstance(node, dict) and "Ref" in node:
            return parameters.get(node["Ref"], template["Parameters"][node["Ref"]].get("Default"))
        if isinstance(node, dict) and "Fn::Equals" in node:
            left, right = (value(item) for item in node["Fn::Equals"])
            return left == right
        if isinstance(node, dict) and "Fn::Not" in node:
            return not value(node["Fn::Not"][0])
        return node

    rule = template["Rules"]["ImageBeforeSchedules"]
    if not value(rule["RuleCondition"]):
        return True
    return all(value(assertion["Assert"]) for assertion in rule["Assertions"])


@pytest.mark.parametrize(
    ("schedules", "image", "allowed"),
    [
        ("true", None, False),  # a scheduled stack's first deploy: refused
        ("false", None, True),  # ...deployed with schedules off instead
        ("true", "123456789012.dkr.ecr.eu-west-2.amazonaws.com/repo:0123456789ab", True),
        ("false", "123456789012.dkr.ecr.eu-west-2.amazonaws.com/repo:0123456789ab", True),
    ],
)
def test_schedules_wait_for_a_pushed_image(
    template: dict[str, Any], schedules: str, image: str | None, allowed: bool
) -> None:
    parameters = {"SchedulesEnabled": schedules, **({"ImageUri": image} if image else {})}
    assert template["Parameters"]["ImageUri"]["Default"] == "unpushed"
    assert _rule_allows(template, parameters) is allowed
    assert (
        "make push-image"
        in template["Rules"]["ImageBeforeSchedules"]["Assertions"][0]["AssertDescription"]
    )


def test_tracing_active_has_the_xray_sdk_in_the_lambda_package(template: dict[str, Any]) -> None:
    # Tracing=Active turns the Powertools tracer on; the python3.12 runtime has no X-Ray SDK.
    assert "Active" in template["Parameters"]["Tracing"]["AllowedValues"]
    requirements = (ROOT / "functions" / "requirements.txt").read_text(encoding="utf-8")
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "aws-lambda-powertools[tracer]" in requirements
    assert any(
        dep.startswith("aws-lambda-powertools[tracer]")
        for dep in pyproject["project"]["dependencies"]
    )
