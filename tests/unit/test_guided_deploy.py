"""`make deploy-guided`'s questions (tools/guided_deploy.py) and `batchcron preflight`'s checks
with a fake AWS CLI runner."""

from __future__ import annotations

import shutil
import tomllib
from collections.abc import Sequence
from pathlib import Path

import pytest

from batchcron.cli.preflight import CommandFailedError, Deploy, preflight
from tools.guided_deploy import GuidedError, ask, current, validate, write

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def samconfig(tmp_path: Path) -> Path:
    path = tmp_path / "samconfig.toml"
    shutil.copy(ROOT / "samconfig.toml", path)
    return path


def test_placeholders_and_malformed_ids_are_refused() -> None:
    for name, answer in [
        ("Subnets", "subnet-REPLACE_ME"),
        ("Subnets", ""),
        ("Subnets", "subnet-0123456789abcdef0,sg-0123456789abcdef0"),
        ("SecurityGroupIds", "sg-REPLACE_ME"),
    ]:
        with pytest.raises(GuidedError):
            validate(name, answer)
    assert validate("Subnets", " subnet-0123456789abcdef0, subnet-0fedcba9876543210 ") == (
        "subnet-0123456789abcdef0,subnet-0fedcba9876543210"
    )


def test_asks_only_for_the_vpc_offering_the_default_vpcs_and_saves_the_answers(
    samconfig: Path,
) -> None:
    asked: list[str] = []
    answers = iter(["subnet-REPLACE_ME", "", ""])  # a placeholder is refused, Enter = offered

    def prompt(text: str) -> str:
        asked.append(text.splitlines()[-1])
        return next(answers)

    offered = {"Subnets": "subnet-0123456789abcdef0", "SecurityGroupIds": "sg-0123456789abcdef0"}
    chosen = ask(samconfig, "default", prompt, offered)
    write(samconfig, "default", chosen)

    assert asked == [
        "Subnets [subnet-0123456789abcdef0]: ",
        "Subnets [subnet-0123456789abcdef0]: ",
        "SecurityGroupIds [sg-0123456789abcdef0]: ",
    ]
    saved = current(samconfig, "default")
    assert saved["Subnets"] == "subnet-0123456789abcdef0"
    assert saved["SecurityGroupIds"] == "sg-0123456789abcdef0"
    assert saved["Stage"] == "dev"  # the rest of the environment is left as it was
    assert current(samconfig, "prod")["Subnets"] == "subnet-REPLACE_ME"
    assert "# Before the first deploy" in samconfig.read_text(encoding="utf-8")
    tomllib.loads(samconfig.read_text(encoding="utf-8"))
    assert ask(samconfig, "default", prompt, offered) == {}  # nothing left to ask


class FakeAws:
    def __init__(self, **answers: str) -> None:
        self.answers = answers
        self.calls: list[list[str]] = []

    def __call__(self, argv: Sequence[str]) -> str:
        self.calls.append(list(argv))
        key = " ".join(argv[:3])
        for prefix, answer in self.answers.items():
            if key.startswith(prefix):
                if answer.startswith("!"):
                    raise CommandFailedError(answer[1:])
                return answer
        raise CommandFailedError(f"unexpected {key}")


def _deploy(samconfig: Path, *overrides: str) -> Deploy:
    return Deploy(samconfig, "default", list(overrides), ROOT / "template.yaml")


OK = {
    "aws --version": "aws-cli/2.17.0 Python/3.11",
    "aws sts get-caller-identity": '{"Account": "123456789012", "Arn": "arn:aws:iam::1:user/x"}',
    "python3.12 -c import": "",
    "aws lambda get-account-settings": (
        '{"AccountLimit": {"ConcurrentExecutions": 1000, "UnreservedConcurrentExecutions": 1000}}'
    ),
    "aws cloudformation describe-stack-resource": "!does not exist",
}
VPC = ("Subnets=subnet-0123456789abcdef0", "SecurityGroupIds=sg-0123456789abcdef0")


def test_every_check_passes_on_a_ready_account(samconfig: Path) -> None:
    results = preflight(_deploy(samconfig, *VPC), FakeAws(**OK))

    assert [(r.name, r.status) for r in results] == [
        ("aws cli", "ok"),
        ("credentials", "ok"),
        ("region", "ok"),
        ("python3.12", "ok"),
        ("placeholders", "ok"),
        ("image", "skip"),
        ("concurrency", "ok"),
    ]


def test_no_credentials_fails_naming_the_fix_and_skips_the_account_checks(
    samconfig: Path,
) -> None:
    fake = FakeAws(**(OK | {"aws sts get-caller-identity": "!Unable to locate credentials."}))

    results = {r.name: r for r in preflight(_deploy(samconfig, *VPC), fake)}

    assert results["credentials"].status == "FAIL"
    assert "aws configure" in results["credentials"].detail
    assert results["image"].status == results["concurrency"].status == "skip"
    assert not any(call[1] == "lambda" for call in fake.calls)


def test_the_webhooks_own_reservation_counts_as_available(samconfig: Path) -> None:
    fake = FakeAws(
        **(
            OK
            | {
                "aws lambda get-account-settings": (
                    '{"AccountLimit": {"ConcurrentExecutions": 110,'
                    ' "UnreservedConcurrentExecutions": 100}}'
                ),
                "aws cloudformation describe-stack-resource": (
                    '{"StackResourceDetail": {"PhysicalResourceId": "batchcron-dev-Webhook"}}'
                ),
                "aws lambda get-function-concurrency": '{"ReservedConcurrentExecutions": 10}',
            }
        )
    )

    results = {r.name: r for r in preflight(_deploy(samconfig, *VPC), fake)}

    assert results["concurrency"].status == "ok", results["concurrency"]
