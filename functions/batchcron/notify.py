"""Alert delivery: one pending alert on a run -> Slack, then recorded as sent, once.

The webhook URL is the job's `notify.slack_webhook_secret`, else SLACK_WEBHOOK_SECRET_ARN. With
no URL configured (or the template's placeholder) the alert is logged and recorded as skipped,
so it does not loop; recording runs is unaffected. When Slack does not accept the message the
alert stays pending (the run stays in the outbox) and SlackError propagates: the job-state
function fails so Lambda retries it, and every dispatcher tick re-sends pending alerts.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from batchcron.alerting import Where, message
from batchcron.catalogue import Catalogue, Job
from batchcron.models import Run, Status, iso, utcnow
from batchcron.observability import count, logger
from batchcron.secrets import PLACEHOLDER, get_secret
from batchcron.settings import Settings
from batchcron.slack import Slack
from batchcron.store import RunStore


class Notifier:
    """Sends a run's pending alert and records the result."""

    def __init__(
        self,
        store: RunStore,
        settings: Settings,
        *,
        catalogue: Callable[[], Catalogue] | None = None,
        secret: Callable[[str], str] = get_secret,
        slack: Slack | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.store = store
        self.settings = settings
        self._catalogue = catalogue
        self.secret = secret
        self._slack = slack
        self.clock = clock

    @property
    def slack(self) -> Slack:
        if self._slack is None:
            self._slack = Slack()
        return self._slack

    def job(self, name: str) -> Job | None:
        if self._catalogue is None:
            return None
        return self._catalogue().jobs.get(name)

    def on_alert(self, run: Run) -> None:
        """The submit path recorded an alert on `run` (skipped x3, missed, submit failed)."""
        self.deliver(run, self.job(run.job))

    def deliver(self, run: Run, job: Job | None) -> bool:
        """Send `run`'s pending alert. True when Slack took it; False when there was nothing to
        send, it was skipped (no URL), or another delivery recorded it first. Raises SlackError
        (alert still pending) when Slack does not accept it."""
        alert = run.alert
        if alert is None or alert.state != "pending":
            return False
        keep = _outbox_work_left(run)
        url = self.webhook_url(job)
        if url is None:
            logger.warning(
                "no Slack webhook configured; alert skipped",
                job=run.job,
                run_id=run.run_id,
                alert=alert.kind,
            )
            skipped = alert.model_copy(update={"state": "skipped"})
            self.store.finish_alert(run.job, run.run_id, skipped, keep_in_outbox=keep)
            count("AlertsSkipped")
            return False
        where = Where(region=self.settings.region, log_group=self.settings.job_log_group)
        self.slack.send(url, message(run, alert, job, where))
        sent = alert.model_copy(update={"state": "sent", "sent_at": iso(self.clock())})
        recorded = self.store.finish_alert(run.job, run.run_id, sent, keep_in_outbox=keep)
        count("AlertsSent")
        logger.info(
            "alert sent", job=run.job, run_id=run.run_id, alert=alert.kind, recorded=recorded
        )
        return True

    def webhook_url(self, job: Job | None) -> str | None:
        """The incoming-webhook URL for `job`'s alerts, or None when none is configured."""
        secret_id = (job.notify.slack_webhook_secret if job else None) or (
            self.settings.slack_webhook_secret_arn
        )
        if not secret_id:
            return None
        value = self.secret(secret_id).strip()
        if not value or value == PLACEHOLDER:
            return None
        if not value.startswith(("https://", "http://")):
            logger.error(
                "Slack webhook secret does not hold a URL; alert skipped", secret=secret_id
            )
            return None
        return value


def _outbox_work_left(run: Run) -> bool:
    """Whether the run must stay in the outbox after its alert (a claim to re-drive or a submit
    to retry before its deadline)."""
    return run.status == Status.CLAIMED or (
        run.status == Status.SUBMIT_FAILED and run.deadline is not None
    )


def default_notifier() -> Notifier:
    """A notifier on the functions' settings, store and catalogue."""
    from batchcron.catalogue import load_catalogue
    from batchcron.settings import settings
    from batchcron.wiring import store

    return Notifier(store(), settings(), catalogue=load_catalogue)


def on_alert(run: Run) -> None:
    """Submitter hook: deliver the alert it just recorded on `run`."""
    default_notifier().on_alert(run)


def deliver(run: Run, job: Job | None) -> bool:
    """Dispatcher hook: (re-)send `run`'s pending alert."""
    return default_notifier().deliver(run, job)
