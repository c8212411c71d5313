"""Alert delivery: one pending alert on a run -> Slack, then recorded as sent, once.

The webhook URL is the job's `notify.slack_webhook_secret`, else SLACK_WEBHOOK_SECRET_ARN. With
no URL configured (or the template's placeholder) the alert is logged and recorded as skipped,
so it does not loop; recording runs is unaffected.

When Slack does not take the message, the attempt is recorded on the alert: it stays pending
with a next attempt time (Retry-After on a 429, else exponential backoff with jitter) and
SlackError propagates (the job-state function fails so Lambda retries it; a dispatcher tick
tries again once the time has come). An alert has an end: a permanent refusal (4xx other than
429), or MAX_ATTEMPTS failed attempts over at least GIVE_UP_AFTER, marks it `failed` (kept on the
run, logged at ERROR, counted in AlertsFailed), and nothing waits behind it. Within one
notifier (one invocation), a webhook that rate limited or timed out is not called again until
its time has come: the alerts for it move on without a request.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import datetime, timedelta

from batchcron.adapters.secrets import PLACEHOLDER, get_secret
from batchcron.adapters.slack import Slack, SlackError, SlackRateLimitedError, SlackRejectedError
from batchcron.catalogue.model import Catalogue, Job
from batchcron.models import Alert, Run, Status, iso, parse_time, utcnow
from batchcron.observability import count, logger
from batchcron.outcomes.alerting import Where, message
from batchcron.settings import Settings
from batchcron.store.runs import RunStore

MAX_ATTEMPTS = 10  # failed deliveries before an alert may be given up ...
GIVE_UP_AFTER = timedelta(days=1)  # ... and only once it is this old
FIRST_BACKOFF = timedelta(minutes=1)
MAX_BACKOFF = timedelta(hours=1)
MAX_RETRY_AFTER = timedelta(hours=6)  # a Retry-After beyond this is taken as this


def next_attempt(
    attempts: int, retry_after: float | None, rng: random.Random | None = None
) -> timedelta:
    """How long to wait after the `attempts`-th failed delivery: Slack's Retry-After when it
    gave one, else exponential backoff (1 min doubling to 1 h) with full jitter on its top half."""
    if retry_after is not None:
        return min(timedelta(seconds=retry_after), MAX_RETRY_AFTER)
    ceiling = min(FIRST_BACKOFF * 2 ** max(attempts - 1, 0), MAX_BACKOFF)
    return ceiling * (rng or random).uniform(0.5, 1.0)


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
        self._held: dict[str, datetime] = {}  # webhook URL -> not called again before
        self._rng = random.Random()

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
        now = self.clock()
        if alert.next_attempt_at and parse_time(alert.next_attempt_at) > now:
            return False  # its time has not come (the outbox will bring it back)
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
        held = self._held.get(url)
        if held is not None and held > now:
            # This webhook rate limited or timed out in this invocation: no request now.
            later = alert.model_copy(update={"next_attempt_at": iso(held)})
            self.store.defer_alert(run.job, run.run_id, later, until=held, keep_in_outbox=keep)
            return False
        where = Where(region=self.settings.region, log_group=self.settings.job_log_group)
        try:
            prices = self._catalogue().prices if self._catalogue is not None else None
            self.slack.send(url, message(run, alert, job, where, prices))
        except SlackError as exc:
            if self._failed_attempt(run, alert, exc, url, now, keep=keep):
                return False  # given up: nothing more to try
            raise
        sent = alert.model_copy(update={"state": "sent", "sent_at": iso(self.clock())})
        recorded = self.store.finish_alert(run.job, run.run_id, sent, keep_in_outbox=keep)
        count("AlertsSent")
        logger.info(
            "alert sent", job=run.job, run_id=run.run_id, alert=alert.kind, recorded=recorded
        )
        return True

    def _failed_attempt(
        self, run: Run, alert: Alert, exc: SlackError, url: str, now: datetime, *, keep: bool
    ) -> bool:
        """Record a delivery Slack did not take. True when the alert is now `failed` for good."""
        attempts = alert.attempts + 1
        error = str(exc)[:300]
        created = parse_time(alert.created_at) if alert.created_at else now
        permanent = isinstance(exc, SlackRejectedError)
        if permanent or (attempts >= MAX_ATTEMPTS and now - created >= GIVE_UP_AFTER):
            failed = alert.model_copy(
                update={"state": "failed", "attempts": attempts, "error": error}
            )
            self.store.finish_alert(run.job, run.run_id, failed, keep_in_outbox=keep)
            count("AlertsFailed")
            logger.error(
                "alert not delivered and given up",
                job=run.job,
                run_id=run.run_id,
                alert=alert.kind,
                attempts=attempts,
                error=error,
            )
            return True
        retry_after = exc.retry_after if isinstance(exc, SlackRateLimitedError) else None
        until = now + next_attempt(attempts, retry_after, self._rng)
        if isinstance(exc, SlackRateLimitedError) or exc.status is None:
            self._held[url] = until  # rate limited or unreachable: spare it the rest
        later = alert.model_copy(
            update={"attempts": attempts, "next_attempt_at": iso(until), "error": error}
        )
        self.store.defer_alert(run.job, run.run_id, later, until=until, keep_in_outbox=keep)
        count("AlertDeliveriesFailed")
        logger.warning(
            "alert not delivered yet",
            job=run.job,
            run_id=run.run_id,
            alert=alert.kind,
            attempts=attempts,
            next_attempt_at=iso(until),
            error=error,
        )
        return False

    def send_text(self, job: Job | None, text: str) -> bool:
        """Send one plain alert (a missed deadline, its follow-up) to `job`'s webhook. False
        when no webhook is configured (logged); SlackError when Slack does not take it."""
        url = self.webhook_url(job)
        if url is None:
            logger.warning("no Slack webhook configured; alert skipped", text=text)
            count("AlertsSkipped")
            return False
        from batchcron.outcomes.alerting import plain_message

        self.slack.send(url, plain_message(text))
        count("AlertsSent")
        return True

    def notice(self, job: Job, text: str) -> bool:
        """Send one line about `job` that no run carries (an overdue wait, its end) to the
        job's webhook. True when sent or there is nowhere to send it (logged); SlackError when
        Slack did not take it (the caller tries again later)."""
        if not job.notify.enabled:
            return True
        url = self.webhook_url(job)
        if url is None:
            logger.warning("no Slack webhook configured; notice skipped", job=job.name, text=text)
            count("AlertsSkipped")
            return True
        self.slack.send(url, {"text": text})
        count("AlertsSent")
        logger.info("notice sent", job=job.name, text=text)
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
