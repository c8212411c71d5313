"""`make deploy-guided`: the first deploy's questions, only those the stack needs.

samconfig.toml already answers everything `sam deploy --guided` would ask (stack name,
capabilities, the S3 bucket, tags) except the VPC: Subnets and SecurityGroupIds. This asks for
those (offering the account's default VPC), refuses placeholders, writes the answers into the
config environment's parameter_overrides, and `make deploy` does the rest. Never asked:
sam's "Function Url has no authentication. Is this okay?", whose default answer (N) stops a
guided deploy: the webhook authenticates every request by its HMAC signature instead
(docs/template.md "Webhook").

    .venv/bin/python tools/guided_deploy.py samconfig.toml default
"""

from __future__ import annotations

import re
import sys
import tomllib
from collections.abc import Callable, Sequence
from pathlib import Path

from batchcron.cli.preflight import PLACEHOLDER, CommandFailedError, run_command

QUESTIONS = {
    "Subnets": (
        re.compile(r"^subnet-[0-9a-f]{8,17}$"),
        "Subnets for the Fargate jobs (comma-separated subnet-... ids; public subnets with "
        "AssignPublicIp=ENABLED, or private ones behind a NAT gateway)",
    ),
    "SecurityGroupIds": (
        re.compile(r"^sg-[0-9a-f]{8,17}$"),
        "Security groups for the jobs (comma-separated sg-... ids; egress to 443 is needed)",
    ),
}


class GuidedError(ValueError):
    """An answer or a config that cannot be used."""


def current(samconfig: Path, environment: str) -> dict[str, str]:
    with samconfig.open("rb") as handle:
        config = tomllib.load(handle)
    try:
        listed = config[environment]["deploy"]["parameters"].get("parameter_overrides", [])
    except KeyError:
        raise GuidedError(f"{samconfig} has no [{environment}.deploy.parameters]") from None
    if isinstance(listed, str):
        listed = listed.split()
    return dict(str(item).partition("=")[::2] for item in listed)


def validate(name: str, answer: str) -> str:
    pattern, _ = QUESTIONS[name]
    ids = [part.strip() for part in answer.split(",") if part.strip()]
    if not ids:
        raise GuidedError(f"{name} needs at least one id")
    for value in ids:
        if PLACEHOLDER in value or not pattern.match(value):
            raise GuidedError(f"{value!r} is not a real id for {name}")
    return ",".join(ids)


def suggestions(run: Callable[[Sequence[str]], str] = run_command) -> dict[str, str]:
    """The default VPC's subnets and its default security group, when the account has one."""
    found: dict[str, str] = {}
    try:
        subnets = run(
            [
                "aws",
                "ec2",
                "describe-subnets",
                "--filters",
                "Name=default-for-az,Values=true",
                "--query",
                "Subnets[].[SubnetId,VpcId]",
                "--output",
                "text",
            ]
        ).split()
    except CommandFailedError:
        return found
    if subnets:
        found["Subnets"] = ",".join(subnets[0::2])
        vpc = subnets[1]
        try:
            groups = run(
                [
                    "aws",
                    "ec2",
                    "describe-security-groups",
                    "--filters",
                    "Name=group-name,Values=default",
                    f"Name=vpc-id,Values={vpc}",
                    "--query",
                    "SecurityGroups[].GroupId",
                    "--output",
                    "text",
                ]
            ).split()
        except CommandFailedError:
            groups = []
        if groups:
            found["SecurityGroupIds"] = groups[0]
    return found


def write(samconfig: Path, environment: str, answers: dict[str, str]) -> None:
    """Set KEY=VALUE in the environment's parameter_overrides, keeping the file's comments."""
    text = samconfig.read_text(encoding="utf-8")
    header = f"[{environment}.deploy.parameters]"
    start = text.index(header)
    following = text.find("\n[", start + len(header))
    end = len(text) if following == -1 else following
    section = text[start:end]
    for key, value in answers.items():
        pattern = re.compile(rf'"{key}=[^"]*"')
        if pattern.search(section):
            section = pattern.sub(f'"{key}={value}"', section, count=1)
        else:
            section = section.replace(
                "parameter_overrides = [", f'parameter_overrides = [\n    "{key}={value}",', 1
            )
    samconfig.write_text(text[:start] + section + text[end:], encoding="utf-8")


def ask(
    samconfig: Path,
    environment: str,
    prompt: Callable[[str], str] = input,
    offered: dict[str, str] | None = None,
) -> dict[str, str]:
    have = current(samconfig, environment)
    needed = [name for name in QUESTIONS if PLACEHOLDER in have.get(name, PLACEHOLDER)]
    if not needed:
        return {}
    offered = suggestions() if offered is None else offered
    answers = {}
    for name in needed:
        default = offered.get(name, "")
        hint = f" [{default}]" if default else ""
        while True:
            answer = prompt(f"{QUESTIONS[name][1]}\n{name}{hint}: ").strip() or default
            try:
                answers[name] = validate(name, answer)
                break
            except GuidedError as exc:
                print(f"  {exc}; try again (Ctrl-C to stop)")
    return answers


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(f"usage: {argv[0]} SAMCONFIG ENVIRONMENT", file=sys.stderr)
        return 64
    samconfig, environment = Path(argv[1]), argv[2]
    try:
        if not sys.stdin.isatty() and any(
            PLACEHOLDER in current(samconfig, environment).get(name, PLACEHOLDER)
            for name in QUESTIONS
        ):
            raise GuidedError(
                "the guided deploy asks for Subnets and SecurityGroupIds on a terminal; without "
                f"one, set them in {samconfig} [{environment}] or pass OVERRIDES to make deploy"
            )
        answers = ask(samconfig, environment)
    except (GuidedError, OSError, tomllib.TOMLDecodeError) as exc:
        print(f"guided deploy: {exc}", file=sys.stderr)
        return 1
    except (KeyboardInterrupt, EOFError):
        print("\nguided deploy: stopped, nothing written", file=sys.stderr)
        return 130
    if answers:
        write(samconfig, environment, answers)
        saved = ", ".join(f"{k}={v}" for k, v in answers.items())
        print(f"saved {saved} to {samconfig} [{environment}]")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
