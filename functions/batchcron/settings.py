"""Typed configuration from the environment: read on first use, cached, fail fast."""

from __future__ import annotations

import os
from functools import cache

from batchcron.records import Record, record

DEFAULT_SLACK_API_URL = "https://slack.com/api/"


class ConfigError(RuntimeError):
    """A required environment variable is missing or invalid."""


@record(frozen=True)
class Settings(Record):
    """The functions' environment (names as in template.yaml)."""

    runs_table: str
    job_queue: str
    job_definition: str
    extra_job_queue_arns: tuple[str, ...] = ()
    extra_job_definition_arns: tuple[str, ...] = ()
    slack_webhook_secret_arn: str | None = None
    github_webhook_secret_arn: str | None = None
    # Slack app mode (docs/alerts.md): a bot token turns it on; the signing secret verifies
    # POST /slack/actions.
    slack_bot_token_secret_arn: str | None = None
    slack_signing_secret_arn: str | None = None
    slack_channel: str | None = None
    slack_allowed_users: tuple[str, ...] = ()
    slack_api_url: str = DEFAULT_SLACK_API_URL
    job_log_group: str | None = None
    # Jobs carry batchcron:stack=<stack_name>; the functions' IAM lets them terminate only those.
    stack_name: str | None = None
    # Comma-separated hosts a push's URLs may name (the webhook; github.com when unset).
    github_hosts: str | None = None
    region: str = "us-east-1"
    dispatch_workers: int = 8

    @property
    def allowed_job_queues(self) -> frozenset[str]:
        return frozenset((self.job_queue, *self.extra_job_queue_arns))

    @property
    def allowed_job_definitions(self) -> frozenset[str]:
        return frozenset((self.job_definition, *self.extra_job_definition_arns))

    def require(self, field: str) -> str:
        """The value of an optional setting a particular function needs."""
        value = getattr(self, field)
        if not value:
            raise ConfigError(f"environment variable {field.upper()} is not set")
        return str(value)


REQUIRED = ("RUNS_TABLE", "JOB_QUEUE", "JOB_DEFINITION")


def _split(value: str | None) -> tuple[str, ...]:
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


@cache
def settings() -> Settings:
    """Settings from os.environ (cached; call `settings.cache_clear()` after changing env)."""
    env = os.environ
    missing = [name for name in REQUIRED if not env.get(name)]
    if missing:
        raise ConfigError(f"missing environment variable(s): {', '.join(missing)}")
    return Settings(
        runs_table=env["RUNS_TABLE"],
        job_queue=env["JOB_QUEUE"],
        job_definition=env["JOB_DEFINITION"],
        extra_job_queue_arns=_split(env.get("EXTRA_JOB_QUEUE_ARNS")),
        extra_job_definition_arns=_split(env.get("EXTRA_JOB_DEFINITION_ARNS")),
        slack_webhook_secret_arn=env.get("SLACK_WEBHOOK_SECRET_ARN") or None,
        github_webhook_secret_arn=env.get("GITHUB_WEBHOOK_SECRET_ARN") or None,
        slack_bot_token_secret_arn=env.get("SLACK_BOT_TOKEN_SECRET_ARN") or None,
        slack_signing_secret_arn=env.get("SLACK_SIGNING_SECRET_ARN") or None,
        slack_channel=env.get("SLACK_CHANNEL") or None,
        slack_allowed_users=_split(env.get("SLACK_ALLOWED_USERS")),
        slack_api_url=env.get("SLACK_API_URL") or DEFAULT_SLACK_API_URL,
        job_log_group=env.get("JOB_LOG_GROUP") or None,
        stack_name=env.get("STACK_NAME") or None,
        github_hosts=env.get("GITHUB_HOSTS") or None,
        region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1",
        dispatch_workers=int(env.get("DISPATCH_WORKERS") or 8),
    )
