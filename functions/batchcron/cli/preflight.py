"""`batchcron preflight`: what a deploy needs, checked in seconds before `sam build` starts.

Each check prints one line (ok / FAIL / skip) and a failure names its fix. The AWS checks go
through the AWS CLI, which the deploy's other steps (image push, secrets) need anyway.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tomllib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PLACEHOLDER = "REPLACE_ME"
UNPUSHED = "unpushed"  # template.yaml's ImageUri default
AWS_CLI_INSTALL = "https://docs.aws.amazon.com/cli/latest/userguide/getting-started-install.html"
# Lambda keeps this much of the account's concurrency unreserved; a reservation that would go
# below it fails the deploy (PutFunctionConcurrency).
UNRESERVED_MINIMUM = 100
TIMEOUT = 8.0  # seconds per AWS CLI call: the whole preflight stays well under a build


@dataclass(frozen=True)
class Result:
    name: str
    status: str  # ok, FAIL, skip
    detail: str

    def line(self) -> str:
        return f"{self.status:<4}  {self.name:<12}  {self.detail}"


class CommandFailedError(RuntimeError):
    """An AWS CLI call that failed; the message is its stderr (or why it did not run)."""


Runner = Callable[[Sequence[str]], str]


def run_command(argv: Sequence[str]) -> str:
    """Run a command, return its stdout; CommandFailedError with its stderr otherwise."""
    try:
        done = subprocess.run(
            list(argv), capture_output=True, text=True, timeout=TIMEOUT, check=False
        )
    except FileNotFoundError:
        raise CommandFailedError(f"{argv[0]} not found on PATH") from None
    except subprocess.TimeoutExpired:
        raise CommandFailedError(f"{' '.join(argv[:3])} took over {TIMEOUT:.0f} s") from None
    if done.returncode != 0:
        message = (done.stderr or done.stdout).strip().splitlines()
        raise CommandFailedError(message[-1] if message else f"exit {done.returncode}")
    return done.stdout


@dataclass
class Deploy:
    """What is about to be deployed: samconfig's environment with the command line on top."""

    samconfig: Path
    config_env: str
    overrides: list[str] = field(default_factory=list)
    template: Path = Path("template.yaml")

    def config(self) -> dict[str, Any]:
        with self.samconfig.open("rb") as handle:
            loaded: dict[str, Any] = tomllib.load(handle)
        return loaded

    def section(self, command: str) -> dict[str, Any]:
        found: dict[str, Any] = self.config().get(self.config_env, {}).get(command, {})
        return dict(found.get("parameters", {}))

    def stack_name(self) -> str | None:
        name = self.section("deploy").get("stack_name") or self.section("global").get("stack_name")
        return str(name) if name else None

    def parameters(self) -> dict[str, str]:
        listed = self.section("deploy").get("parameter_overrides", [])
        if isinstance(listed, str):
            listed = listed.split()
        merged: dict[str, str] = {}
        for item in [*listed, *self.overrides]:
            key, _, value = str(item).partition("=")
            merged[key] = value.strip('"')
        return merged

    def defaults(self) -> dict[str, str]:
        """The template's parameter defaults (a parameter not overridden keeps its default)."""
        from batchcron.local.provision import load_template

        parameters = load_template(self.template).get("Parameters", {})
        return {k: str(v["Default"]) for k, v in parameters.items() if "Default" in v}


def check_aws_cli(run: Runner) -> Result:
    try:
        version = run(["aws", "--version"]).strip()
    except CommandFailedError:
        return Result("aws cli", "FAIL", f"no aws on PATH: install AWS CLI v2 ({AWS_CLI_INSTALL})")
    return Result("aws cli", "ok", version.split(" ")[0] if version else "aws")


def check_credentials(run: Runner) -> tuple[Result, Result]:
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not region:
        try:
            region = run(["aws", "configure", "get", "region"]).strip() or None
        except CommandFailedError:
            region = None
    region_result = (
        Result("region", "ok", region)
        if region
        else Result(
            "region",
            "FAIL",
            "no region: set AWS_REGION (or AWS_DEFAULT_REGION) or `aws configure set region ...`",
        )
    )
    try:
        identity = json.loads(run(["aws", "sts", "get-caller-identity", "--output", "json"]))
    except (CommandFailedError, ValueError) as exc:
        return (
            Result(
                "credentials",
                "FAIL",
                f"{exc}: run `aws configure` (or `aws sso login --profile NAME` and set "
                "AWS_PROFILE) so that `aws sts get-caller-identity` works",
            ),
            region_result,
        )
    return (
        Result("credentials", "ok", f"account {identity.get('Account')} as {identity.get('Arn')}"),
        region_result,
    )


def check_python(run: Runner) -> Result:
    try:
        run(["python3.12", "-c", "import sys"])
    except CommandFailedError:
        return Result(
            "python3.12",
            "FAIL",
            "no working python3.12 on PATH: `sam build` needs the Lambda runtime's Python "
            "(install python3.12, e.g. apt-get install python3.12 or pyenv install 3.12)",
        )
    return Result("python3.12", "ok", "for sam build")


def check_placeholders(deploy: Deploy) -> Result:
    found = []
    source = f"{deploy.samconfig} [{deploy.config_env}]"
    for key, value in deploy.parameters().items():
        if PLACEHOLDER in value:
            where = (
                "OVERRIDES" if any(o.startswith(f"{key}=") for o in deploy.overrides) else source
            )
            found.append(f"{key}={value} (in {where})")
    for command in ("global", "deploy"):
        for key, value in deploy.section(command).items():
            if key != "parameter_overrides" and PLACEHOLDER in str(value):
                found.append(f"{key}={value} (in {source})")
    if not found:
        return Result("placeholders", "ok", f"none in {source}")
    return Result(
        "placeholders",
        "FAIL",
        "replace " + "; ".join(found) + " with your VPC's ids (Subnets: `aws ec2 describe-subnets`,"
        " SecurityGroupIds: `aws ec2 describe-security-groups`)",
    )


def _stack_outputs_and_parameters(
    run: Runner, stack: str
) -> tuple[dict[str, str], dict[str, str]] | None:
    try:
        described = json.loads(
            run(
                [
                    "aws",
                    "cloudformation",
                    "describe-stacks",
                    "--stack-name",
                    stack,
                    "--output",
                    "json",
                ]
            )
        )
    except CommandFailedError as exc:
        if "does not exist" in str(exc):
            return None
        raise
    [found] = described["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in found.get("Outputs", [])}
    parameters = {
        p["ParameterKey"]: p.get("ParameterValue", "") for p in found.get("Parameters", [])
    }
    return outputs, parameters


def check_image(run: Runner, deploy: Deploy) -> Result:
    parameters = deploy.parameters()
    stack = deploy.stack_name() or "<stack>"
    schedules = parameters.get("SchedulesEnabled", deploy.defaults().get("SchedulesEnabled"))
    if schedules != "true":
        return Result("image", "skip", "SchedulesEnabled is not true: no image needed yet")
    push = f"run `make push-image STACK={stack}` first, then deploy with IMAGE_URI=<what it prints>"
    try:
        known = _stack_outputs_and_parameters(run, stack)
    except CommandFailedError as exc:
        return Result("image", "FAIL", f"cannot read stack {stack}: {exc}")
    if known is None:
        return Result(
            "image",
            "FAIL",
            f"stack {stack} does not exist yet and SchedulesEnabled=true needs an image: deploy "
            f'first with OVERRIDES="SchedulesEnabled=false", then {push}',
        )
    outputs, current = known
    image = parameters.get("ImageUri") or current.get("ImageUri") or UNPUSHED
    if image == UNPUSHED:
        return Result("image", "FAIL", f"ImageUri is {UNPUSHED}: {push}")
    repository_uri = outputs.get("ImageRepositoryUri", "")
    repository, _, tag = image.rpartition(":")
    if not tag or "/" in tag:
        return Result("image", "FAIL", f"ImageUri {image} has no tag: {push}")
    name = repository.split("/", 1)[-1]
    try:
        run(
            [
                "aws",
                "ecr",
                "describe-images",
                "--repository-name",
                name,
                "--image-ids",
                f"imageTag={tag}",
                "--output",
                "json",
            ]
        )
    except CommandFailedError as exc:
        where = "the stack's repository" if repository == repository_uri else repository
        return Result("image", "FAIL", f"{image} is not in {where} ({exc}): {push}")
    return Result("image", "ok", f"{image} is in ECR")


def check_concurrency(run: Runner, deploy: Deploy) -> Result:
    parameters = deploy.parameters()
    wanted = int(
        parameters.get("WebhookReservedConcurrency")
        or deploy.defaults().get("WebhookReservedConcurrency", "10")
    )
    try:
        settings = json.loads(run(["aws", "lambda", "get-account-settings", "--output", "json"]))
    except (CommandFailedError, ValueError) as exc:
        return Result("concurrency", "FAIL", f"cannot read the Lambda account settings: {exc}")
    limits = settings.get("AccountLimit", {})
    total = int(limits.get("ConcurrentExecutions", 0))
    unreserved = int(limits.get("UnreservedConcurrentExecutions", total))
    held = _webhook_reservation(run, deploy.stack_name())
    left = unreserved + held - wanted
    if left >= UNRESERVED_MINIMUM:
        return Result(
            "concurrency",
            "ok",
            f"WebhookReservedConcurrency={wanted} leaves {left} of {total} unreserved",
        )
    most = unreserved + held - UNRESERVED_MINIMUM
    fix = (
        f'deploy with OVERRIDES="WebhookReservedConcurrency={most}"'
        if most >= 1
        else "ask AWS Support (Service Quotas: Lambda 'Concurrent executions') for a higher quota"
    )
    return Result(
        "concurrency",
        "FAIL",
        f"the account's Lambda concurrency quota is {total} ({unreserved} unreserved): reserving "
        f"{wanted} for the webhook would leave {left}, under the {UNRESERVED_MINIMUM} Lambda "
        f"keeps unreserved; {fix}",
    )


def _webhook_reservation(run: Runner, stack: str | None) -> int:
    """What this stack's webhook already reserves (it comes back when it is re-reserved)."""
    if not stack:
        return 0
    try:
        resource = json.loads(
            run(
                [
                    "aws",
                    "cloudformation",
                    "describe-stack-resource",
                    "--stack-name",
                    stack,
                    "--logical-resource-id",
                    "WebhookFunction",
                    "--output",
                    "json",
                ]
            )
        )
        function = resource["StackResourceDetail"]["PhysicalResourceId"]
        held = json.loads(
            run(["aws", "lambda", "get-function-concurrency", "--function-name", function])
        )
    except (CommandFailedError, ValueError, KeyError):
        return 0
    return int(held.get("ReservedConcurrentExecutions") or 0)


def preflight(deploy: Deploy, run: Runner = run_command, *, guided: bool = False) -> list[Result]:
    """Every check, in the order a person would fix them."""
    results = [check_aws_cli(run)]
    if results[0].status == "ok":
        results.extend(check_credentials(run))
    results.append(check_python(run))
    if not guided:  # a guided deploy asks for the parameters (and refuses placeholders)
        results.append(check_placeholders(deploy))
    aws_ready = all(r.status == "ok" for r in results if r.name in ("aws cli", "credentials"))
    if aws_ready:
        results.append(check_image(run, deploy))
        results.append(check_concurrency(run, deploy))
    else:
        reason = "needs the AWS CLI and credentials (above)"
        results.append(Result("image", "skip", reason))
        results.append(Result("concurrency", "skip", reason))
    return results


def aws_cli_present() -> bool:
    return shutil.which("aws") is not None
