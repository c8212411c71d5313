"""Which batchcron the CLI talks to: a deployed stack, local mode, or the environment.

Order: `--stack NAME` (or BATCHCRON_STACK) reads the stack's outputs; `--endpoint-url` (or
AWS_ENDPOINT_URL) is local mode at that endpoint (its state file, else the state it keeps in the
embedded AWS); otherwise the one running `batchcron local` (found through its state file) or,
last, the functions' own variables (RUNS_TABLE, JOB_QUEUE, ...) already set.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any, Literal

from batchcron.local.state import LocalState, parse_state, running_states, same_endpoint

# Stack output -> the functions' environment variable.
OUTPUTS = {
    "RunsTableName": "RUNS_TABLE",
    "JobQueueArn": "JOB_QUEUE",
    "JobDefinitionArn": "JOB_DEFINITION",
    "JobLogGroupName": "JOB_LOG_GROUP",
    "WebhookSecretArn": "GITHUB_WEBHOOK_SECRET_ARN",
    "SlackWebhookSecretArn": "SLACK_WEBHOOK_SECRET_ARN",
}
REQUIRED_OUTPUTS = ("RunsTableName", "JobQueueArn", "JobDefinitionArn")
PARAMETERS = {
    "ExtraJobQueueArns": "EXTRA_JOB_QUEUE_ARNS",
    "ExtraJobDefinitionArns": "EXTRA_JOB_DEFINITION_ARNS",
}
FUNCTION_VARIABLES = ("RUNS_TABLE", "JOB_QUEUE", "JOB_DEFINITION")


class TargetError(RuntimeError):
    """No usable target; the message says what to do."""


class StackNotFoundError(TargetError):
    pass


@dataclass(frozen=True)
class TargetOptions:
    stack: str | None = None
    region: str | None = None
    profile: str | None = None
    endpoint_url: str | None = None


@dataclass
class Target:
    kind: Literal["stack", "local", "env"]
    label: str
    environment: dict[str, str] = field(default_factory=dict)
    region: str | None = None
    endpoint_url: str | None = None
    webhook_url: str | None = None
    webhook_secret: str | None = None
    clock_offset: timedelta = timedelta(0)  # local mode's clock minus real time (--now)

    @property
    def local(self) -> bool:
        return self.kind == "local"


def resolve(options: TargetOptions) -> Target:
    """Find the target the options (and environment) name. Raises TargetError."""
    if options.stack:
        return _from_stack(options)
    endpoint = options.endpoint_url or os.environ.get("AWS_ENDPOINT_URL")
    running = running_states()
    if endpoint:
        state = next((s for s in running if same_endpoint(s.endpoint_url, endpoint)), None)
        if state is not None:
            return _from_local(state)
        if all(os.environ.get(name) for name in FUNCTION_VARIABLES):
            return _from_env(options, endpoint)
        state = _ask_endpoint(endpoint, options.region)
        if state is not None:
            return _from_local(state)
        raise TargetError(
            f"nothing at {endpoint} looks like batchcron local mode (it keeps no local-mode "
            "state): start one with `make run`, or set RUNS_TABLE, JOB_QUEUE and JOB_DEFINITION"
        )
    if len(running) == 1:
        return _from_local(running[0])
    if len(running) > 1:
        endpoints = ", ".join(state.endpoint_url for state in running)
        raise TargetError(
            f"{len(running)} local modes are running ({endpoints}): "
            "pick one with --endpoint-url URL"
        )
    if all(os.environ.get(name) for name in FUNCTION_VARIABLES):
        return _from_env(options, None)
    raise TargetError(
        "no batchcron to talk to: start local mode with `make run` (or `batchcron local`), "
        "or name a deployed stack with --stack NAME"
    )


def _ask_endpoint(endpoint: str, region: str | None) -> LocalState | None:
    """The state a local mode keeps in its embedded AWS at `endpoint`, or None."""
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    from batchcron.local.state import STATE_SECRET

    regions = [region, os.environ.get("AWS_REGION"), os.environ.get("AWS_DEFAULT_REGION")]
    tried: list[str] = []
    for name in [*regions, "eu-west-2"]:
        if not name or name in tried:
            continue
        tried.append(name)
        client = boto3.session.Session(
            aws_access_key_id="local", aws_secret_access_key="local", region_name=name
        ).client(
            "secretsmanager",
            endpoint_url=endpoint,
            config=Config(connect_timeout=2, read_timeout=5, retries={"total_max_attempts": 1}),
        )
        try:
            text = client.get_secret_value(SecretId=STATE_SECRET)["SecretString"]
        except ClientError:
            continue
        except BotoCoreError as exc:
            raise TargetError(f"cannot reach {endpoint}: {exc}") from None
        state = parse_state(str(text))
        if state is not None:
            # Reached through the address the user gave, whatever local mode calls itself.
            return replace(state, endpoint_url=endpoint.rstrip("/"))
    return None


def activate(target: Target, options: TargetOptions) -> None:
    """Point this process's AWS clients, settings and clock at the target."""
    from batchcron.adapters import aws, secrets
    from batchcron.models import set_clock_offset
    from batchcron.settings import settings

    env = os.environ
    if target.local:
        # Embedded moto takes any credentials; never send real ones to it.
        env.pop("AWS_PROFILE", None)
        env["AWS_ACCESS_KEY_ID"] = "local"
        env["AWS_SECRET_ACCESS_KEY"] = "local"
        env.pop("AWS_SESSION_TOKEN", None)
    elif options.profile:
        env["AWS_PROFILE"] = options.profile
    if target.endpoint_url:
        env["AWS_ENDPOINT_URL"] = target.endpoint_url
    if target.region:
        env["AWS_REGION"] = target.region
        env["AWS_DEFAULT_REGION"] = target.region
    env.update(target.environment)
    # Local mode started with --now runs its own clock: "next run", ages and sample pushes
    # count from it. Any other target is on real time.
    set_clock_offset(target.clock_offset)
    settings.cache_clear()
    aws.reset()
    secrets.reset()


def _from_local(state: LocalState) -> Target:
    return Target(
        kind="local",
        label=f"local mode at {state.endpoint_url}",
        environment=dict(state.environment),
        region=state.region,
        endpoint_url=state.endpoint_url,
        webhook_url=state.webhook_url,
        webhook_secret=state.webhook_secret,
        clock_offset=timedelta(seconds=state.clock_offset_seconds),
    )


def _from_env(options: TargetOptions, endpoint: str | None) -> Target:
    names = (*FUNCTION_VARIABLES, "JOB_LOG_GROUP", "GITHUB_WEBHOOK_SECRET_ARN")
    environment = {name: os.environ[name] for name in names if os.environ.get(name)}
    return Target(
        kind="env",
        label=f"runs table {environment['RUNS_TABLE']}",
        environment=environment,
        region=options.region,
        endpoint_url=endpoint,
    )


def _from_stack(options: TargetOptions) -> Target:
    import boto3
    from botocore.exceptions import ClientError

    session = boto3.session.Session(profile_name=options.profile, region_name=options.region)
    region = session.region_name
    if not region:
        raise TargetError("no AWS region: pass --region or set AWS_REGION")
    client = session.client("cloudformation", endpoint_url=options.endpoint_url)
    name = options.stack or ""
    try:
        stacks = client.describe_stacks(StackName=name)["Stacks"]
    except ClientError as exc:
        # DescribeStacks answers an unknown stack with a ValidationError and nothing more specific.
        if exc.response.get("Error", {}).get("Code") == "ValidationError":
            raise StackNotFoundError(
                f"stack {name!r} not found in {region} (check --stack, --region, --profile)"
            ) from None
        raise
    stack: Any = stacks[0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    missing = [key for key in REQUIRED_OUTPUTS if key not in outputs]
    if missing:
        raise TargetError(
            f"stack {name!r} has no output {', '.join(missing)}: is it a batchcron stack "
            f"(status {stack.get('StackStatus')})?"
        )
    environment = {env: outputs[key] for key, env in OUTPUTS.items() if outputs.get(key)}
    for parameter in stack.get("Parameters", []):
        variable = PARAMETERS.get(parameter.get("ParameterKey", ""))
        if variable and parameter.get("ParameterValue"):
            environment[variable] = parameter["ParameterValue"]
    # Runs the CLI submits carry the stack's tag too, so the stack's functions may terminate them.
    environment["STACK_NAME"] = str(stack.get("StackName") or name)
    webhook = outputs.get("WebhookUrl")
    return Target(
        kind="stack",
        label=f"stack {name} ({region})",
        environment=environment,
        region=region,
        endpoint_url=options.endpoint_url,
        webhook_url=_join(webhook, "github") if webhook else None,
    )


def _join(base: str, path: str) -> str:
    return base.rstrip("/") + "/" + path
