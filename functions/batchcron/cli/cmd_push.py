"""`push`: send a signed sample GitHub push to the webhook."""

from __future__ import annotations

import click

from batchcron.adapters import terminal
from batchcron.cli.app import UsageError, cli, connect, github_host, target_options
from batchcron.cli.target import TargetError, TargetOptions


@cli.command()
@click.argument("repository", metavar="REPO")
@click.option("--branch", default="main", show_default=True)
@click.option("--file", "files", multiple=True, help="A changed file (repeatable).")
@click.option("--url", help="Webhook URL (default: local mode's, or the stack's WebhookUrl).")
@click.option("--secret", envvar="BATCHCRON_WEBHOOK_SECRET", help="Webhook secret.")
@click.option(
    "--github-host",
    default="github.com",
    show_default=True,
    callback=github_host,
    help="The host the push's URLs name (a GitHub Enterprise Server's, for one).",
)
@target_options
def push(
    target: TargetOptions,
    repository: str,
    branch: str,
    files: tuple[str, ...],
    url: str | None,
    secret: str | None,
    github_host: str,
) -> int:
    """Send a signed sample push for REPO (owner/name, or a job name) to the webhook."""
    from batchcron.cli import push as github

    repository = _repository(repository)
    if not url or not secret:
        found = _webhook(target)
        url = url or found[0]
        secret = secret or found[1]
    delivery = github.send(
        url, secret, github.payload(repository, branch, files or ("README.md",), host=github_host)
    )
    console = terminal.out()
    colour = "green" if 200 <= delivery.status < 300 else "red"
    console.print(
        f"push {repository}@{branch} ({delivery.sha[:12]}) -> {url}: "
        f"[{colour}]{delivery.status}[/] (delivery {delivery.delivery_id})"
    )
    if delivery.body is not None:
        console.print_json(data=delivery.body) if not isinstance(
            delivery.body, str
        ) else console.print(delivery.body, markup=False)
    return 0 if 200 <= delivery.status < 300 else 1


def _repository(text: str) -> str:
    if "/" in text:
        return text
    from batchcron.catalogue.loading import load_catalogue

    catalogue = load_catalogue()
    if text in catalogue.jobs:
        return catalogue.jobs[text].repository
    job = catalogue.by_repository_name(text)
    if job is None:
        catalogue.get(text)  # unknown: suggestions
        raise AssertionError("unreachable")
    return job.repository


DEFAULT_LOCAL_WEBHOOK = ("http://127.0.0.1:3000/github", "local-webhook-secret")


def _webhook(options: TargetOptions) -> tuple[str, str]:
    try:
        target = connect(options)
    except TargetError:
        if options.stack:
            raise
        return DEFAULT_LOCAL_WEBHOOK
    if target.local and target.webhook_url and target.webhook_secret:
        return target.webhook_url, target.webhook_secret
    if target.kind == "stack" and target.webhook_url:
        arn = target.environment.get("GITHUB_WEBHOOK_SECRET_ARN")
        if not arn:
            raise UsageError("the stack has no WebhookSecretArn output: pass --secret")
        from batchcron.adapters.secrets import SecretUnavailableError, get_secret

        try:
            return target.webhook_url, get_secret(arn)
        except SecretUnavailableError as exc:
            raise UsageError(f"{exc}: pass --secret") from None
    return DEFAULT_LOCAL_WEBHOOK
