"""Builds the objects each handler needs from settings (one place, lazily)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from batchcron.adapters.batch import Batch
from batchcron.catalogue.loading import load_catalogue
from batchcron.catalogue.model import Job
from batchcron.models import Run
from batchcron.scheduling.dispatch import Dispatcher
from batchcron.scheduling.submit import Submitter
from batchcron.settings import settings
from batchcron.store.runs import RunStore

if TYPE_CHECKING:
    from batchcron.outcomes.notify import Notifier
    from batchcron.outcomes.record import Recorder
    from batchcron.pushes.buttons import Services as ButtonServices
    from batchcron.scheduling.control import Control


def store() -> RunStore:
    return RunStore(settings().runs_table)


def submitter(*, patient: bool = True) -> Submitter:
    """The submit path. The impatient one (webhook) leaves alerts it records pending for the
    next dispatcher tick, so a slow Slack never holds up GitHub's answer."""
    on_alert = _on_alert if patient else None
    return Submitter(store(), Batch(patient=patient), settings(), on_alert=on_alert)


def dispatcher() -> Dispatcher:
    """The dispatcher. Alerts its submit path records (missed, submit failed, skipped) are not
    sent inline: they wait in the outbox for the tick's outbox phase, after every due slot."""
    alerts = _Alerts()
    return Dispatcher(
        load_catalogue(),
        store(),
        Submitter(store(), Batch(patient=True), settings()),
        deliver_alert=alerts.deliver,
        notice=alerts.notice,
        workers=settings().dispatch_workers,
        notify_text=_notify_text,
    )


def _notify_text(job: Job, text: str) -> bool:
    """A one-line Slack alert for `job` (deadlines), to the job's webhook."""
    return notifier().send_text(job, text)


# The alert path (Slack client, message layout, Batch event models) is imported only when there
# is an alert to send: most ticks have none, and the import costs a cold start ~12 ms.
def _on_alert(run: Run) -> None:
    """Submitter hook: deliver the alert it just recorded on `run`."""
    notifier().on_alert(run)


def notifier() -> Notifier:
    """Alert delivery on the functions' settings, store and catalogue."""
    from batchcron.outcomes.notify import Notifier

    return Notifier(store(), settings(), catalogue=load_catalogue)


def recorder() -> Recorder:
    """The job-state path on the functions' settings (the Lambda and local mode)."""
    from batchcron.outcomes.record import Recorder

    return Recorder(load_catalogue(), store(), notifier(), submitter=submitter)


class _Alerts:
    """One notifier for a whole tick (made on its first alert), so a webhook that rate limited
    or timed out is not called again for every alert behind it."""

    def __init__(self) -> None:
        self._notifier: Any = None

    def deliver(self, run: Run, job: Job | None) -> bool:
        if self._notifier is None:
            self._notifier = notifier()
        return bool(self._notifier.deliver(run, job))

    def notice(self, job: Job, text: str) -> bool:
        if self._notifier is None:
            self._notifier = notifier()
        return bool(self._notifier.notice(job, text))


def control() -> Control:
    """The operator's actions (run now, pause/resume, cancel) for the CLI and the status page."""
    from batchcron.scheduling.control import Control

    return Control(store(), submitter(), Batch)


def slack_buttons() -> ButtonServices:
    """What a Slack button press needs: the store, the operator's actions on the impatient
    submit path (alerts wait for the tick), the allow-list and the two ways back to Slack."""
    from batchcron.adapters.secrets import PLACEHOLDER, get_secret
    from batchcron.adapters.slack import Slack, SlackError
    from batchcron.adapters.slack_app import SlackApp, response_url_allowed
    from batchcron.observability import logger
    from batchcron.pushes.buttons import Services
    from batchcron.scheduling.control import Control

    config = settings()

    def respond(url: str, message: dict[str, Any]) -> None:
        if not response_url_allowed(url, config.slack_api_url):
            logger.warning("Slack response_url not on Slack's host; not answered")
            return
        try:
            Slack().send(url, message)
        except SlackError as exc:  # acted on already: the message is just not updated
            logger.warning("Slack message not updated", error=str(exc)[:300])

    def ephemeral(channel: str, user: str, text: str) -> None:
        arn = config.slack_bot_token_secret_arn
        token = get_secret(arn).strip() if arn else ""
        if token in ("", PLACEHOLDER):
            logger.warning("no Slack bot token; ephemeral answer not sent")
            return
        try:
            SlackApp(token, config.slack_api_url).ephemeral(channel, user, text)
        except SlackError as exc:
            logger.warning("Slack ephemeral answer not sent", error=str(exc)[:300])

    return Services(
        store=store(),
        control=Control(store(), submitter(patient=False), Batch),
        allowed_users=config.slack_allowed_users,
        respond=respond,
        ephemeral=ephemeral,
    )
