"""`batchcron preflight`: the deploy's prerequisites, one line each (`make deploy` runs it
before `sam build`)."""

from __future__ import annotations

from pathlib import Path

import click

from batchcron.cli.app import cli


@cli.command()
@click.option(
    "--config-env",
    default="default",
    show_default=True,
    help="samconfig.toml environment the deploy uses (make deploy CONFIG_ENV=...).",
)
@click.option(
    "--samconfig",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("samconfig.toml"),
    show_default=True,
)
@click.option(
    "--template",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("template.yaml"),
    show_default=True,
)
@click.option(
    "--guided", is_flag=True, help="For a guided deploy: its answers replace the placeholders."
)
@click.argument("overrides", nargs=-1, metavar="[KEY=VALUE]...")
def preflight(
    config_env: str, samconfig: Path, template: Path, guided: bool, overrides: tuple[str, ...]
) -> int:
    """Check what a deploy needs before building: the AWS CLI, credentials and region,
    python3.12, no REPLACE_ME placeholders, the image in ECR when schedules are on, and room
    in the account's Lambda concurrency for the webhook's reservation. Exit 0 only when all
    pass. KEY=VALUE: parameter overrides on top of samconfig's (as make deploy passes them)."""
    from batchcron.cli.preflight import Deploy
    from batchcron.cli.preflight import preflight as run_checks

    if not samconfig.is_file():
        raise click.ClickException(f"{samconfig} not found (run from the batchcron checkout)")
    deploy = Deploy(samconfig, config_env, [o for o in overrides if o], template)
    if not deploy.section("deploy") and not deploy.section("global"):
        raise click.ClickException(f"{samconfig} has no [{config_env}.*] environment")
    results = run_checks(deploy, guided=guided)
    for result in results:
        click.echo(result.line())
    failed = [r.name for r in results if r.status == "FAIL"]
    if failed:
        click.echo(f"preflight failed ({', '.join(failed)}): fix the above, then deploy again")
        return 1
    click.echo("preflight passed")
    return 0
