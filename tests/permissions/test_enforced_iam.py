"""The handlers' main paths under moto's IAM enforcement, with the credentials of a role built
from the SAM-transformed template's policies for each function.

moto checks actions, not resources or conditions: the roles here keep every statement's
actions with Resource "*" and no Condition, and test_calls_equal_grants checks the resources
and condition keys. IAM action names are case-insensitive; moto asks for some in lower case
(batch's REST operations) and matches case-sensitively, so each action is granted in both
spellings.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from batchcron.settings import settings
from batchcron.store.runs import RunStore
from tests.conftest import _reset_caches, fresh_push_event, load_event
from tests.permissions.policies import Role, roles_resolved_loosely, transformed_template

REGION = "eu-west-2"


def relaxed_policy(role: Role, drop: str | None = None) -> dict[str, Any]:
    """The role's statements as moto can enforce them: actions only (see the module doc)."""
    statements = []
    for statement in role.statements:
        actions = [a for a in statement.actions if a != drop]
        if actions:
            both = sorted({spelling for a in actions for spelling in (a, a.lower())})
            statements.append({"Effect": "Allow", "Action": both, "Resource": "*"})
    return {"Version": "2012-10-17", "Statement": statements}


@pytest.fixture(scope="module")
def roles() -> dict[str, Role]:
    return roles_resolved_loosely(transformed_template())


class Enforced:
    """moto with the stack provisioned, then IAM enforcement on and the functions' calls made
    with an assumed role's credentials."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, provisioned: Any) -> None:
        self.monkeypatch = monkeypatch
        self.provisioned = provisioned
        self.iam = boto3.client("iam", region_name=REGION)
        self.sts = boto3.client("sts", region_name=REGION)
        self.admin = boto3.Session(region_name=REGION)

    def assume(self, function: str, policy: dict[str, Any]) -> None:
        """Create `function`'s role with `policy` (as an administrator would) and use its
        credentials from now on."""
        from moto.core.authorization import disable_iam_authentication

        with disable_iam_authentication():
            credentials = self._role(function, policy)
        self.monkeypatch.setenv("AWS_ACCESS_KEY_ID", credentials["AccessKeyId"])
        self.monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", credentials["SecretAccessKey"])
        self.monkeypatch.setenv("AWS_SESSION_TOKEN", credentials["SessionToken"])
        _reset_caches()

    def _role(self, function: str, policy: dict[str, Any]) -> dict[str, Any]:
        name = f"{function}Role-{len(self.iam.list_roles()['Roles'])}"
        trust = {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Service": "lambda.amazonaws.com"},
                    "Action": "sts:AssumeRole",
                }
            ],
        }
        arn = self.iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))[
            "Role"
        ]["Arn"]
        self.iam.put_role_policy(
            RoleName=name, PolicyName="from-template", PolicyDocument=json.dumps(policy)
        )
        assumed = self.sts.assume_role(RoleArn=arn, RoleSessionName=function)
        credentials: dict[str, Any] = assumed["Credentials"]
        return credentials


@pytest.fixture
def enforced(monkeypatch: pytest.MonkeyPatch) -> Iterator[Enforced]:
    from moto import mock_aws
    from moto.core.authorization import enable_iam_authentication

    from batchcron.local.provision import provision
    from tests.serial_moto import serialised_moto

    with serialised_moto(), mock_aws(config={"batch": {"use_docker": False}}):
        provisioned = provision(boto3.session.Session(region_name=REGION))
        for key, value in provisioned.environment().items():
            monkeypatch.setenv(key, value)
        world = Enforced(monkeypatch, provisioned)
        with enable_iam_authentication():
            yield world
    _reset_caches()


def _tick(lambda_context: Any) -> dict[str, Any]:
    from batchcron.handlers.dispatch import handler

    event = load_event("dispatch_tick.json")
    handler(event, lambda_context)  # the first tick ever only sets the watermark
    later = dict(event, scheduled_time="2026-11-28T01:00:30Z", replay_from="2026-11-28T00:59:00Z")
    result: dict[str, Any] = handler(later, lambda_context)
    return result


def test_dispatch_submits_with_its_own_role(
    enforced: Enforced, roles: dict[str, Role], lambda_context: Any
) -> None:
    enforced.assume("DispatchFunction", relaxed_policy(roles["DispatchFunction"]))

    result = _tick(lambda_context)

    assert result["submitted"] == 1, result
    [run] = RunStore(settings().runs_table).runs_for_job("conservation-area")
    assert run.batch_job_id


def test_webhook_submits_a_push_with_its_own_role(
    enforced: Enforced, roles: dict[str, Role], lambda_context: Any
) -> None:
    from batchcron.handlers.webhook import handler

    enforced.assume("WebhookFunction", relaxed_policy(roles["WebhookFunction"]))

    response = handler(fresh_push_event(), lambda_context)

    assert response["statusCode"] == 202, response
    body = json.loads(response["body"])
    assert [job["action"] for job in body["jobs"]] == ["submitted"], body


def test_job_state_records_and_alerts_with_its_own_role(
    enforced: Enforced, roles: dict[str, Role], lambda_context: Any
) -> None:
    from batchcron.handlers.job_state import handler

    enforced.assume("JobStateFunction", relaxed_policy(roles["JobStateFunction"]))

    running = handler(load_event("batch_job_running.json"), lambda_context)
    failed = handler(load_event("batch_job_failed.json"), lambda_context)

    assert running["applied"] is True, running
    assert failed["alert"] == "failed", failed  # read the (unset) Slack secret, skipped


def test_enforcement_is_on_a_role_without_submit_submits_nothing(
    enforced: Enforced, roles: dict[str, Role], lambda_context: Any
) -> None:
    """The runs above pass because the roles grant what the handlers call, not because moto
    lets everything through."""
    enforced.assume(
        "DispatchFunction", relaxed_policy(roles["DispatchFunction"], drop="batch:SubmitJob")
    )

    from batchcron.scheduling.dispatch import TickFailedError

    with pytest.raises(TickFailedError, match=r"(?i)AccessDenied.*batch:SubmitJob"):
        _tick(lambda_context)
    [run] = RunStore(settings().runs_table).runs_for_job("conservation-area")
    assert run.batch_job_id is None


def test_enforcement_is_on_a_role_without_the_run_store_fails_the_tick(
    enforced: Enforced, roles: dict[str, Role], lambda_context: Any
) -> None:
    from botocore.exceptions import ClientError

    enforced.assume(
        "DispatchFunction", relaxed_policy(roles["DispatchFunction"], drop="dynamodb:GetItem")
    )

    with pytest.raises(ClientError, match=r"AccessDenied|not authorized"):
        _tick(lambda_context)
