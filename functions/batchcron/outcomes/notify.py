"""Alert delivery: one pending alert on a run -> Slack, then recorded as sent, once.

The webhook URL is the job's `notify.slack_webhook_secret`, else SLACK_WEBHOOK_SECRET_ARN. With
no URL configured (or the template's placeholder) the alert is logged and recorded as skipped,
so it does not loop; recording runs is unaffected. In Slack app mode (a bot token in
SLACK_BOT_TOKEN_SECRET_ARN and a channel) alerts go through the Web API instead, a failure
streak in one thread (docs/alerts.md); delivery, deferral and giving up are the same.

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
from typing import TYPE_CHECKING, Any

from batchcron.adapters.secrets import PLACEHOLDER, get_secret
from batchcron.adapters.slack import Slack, SlackError, SlackRateLimitedError, SlackRejectedError
from batchcron.catalogue.model import Catalogue, Job
from batchcron.models import Alert, Run, Status, iso, parse_time, utcnow
from batchcron.observability import count, logger
from batchcron.outcomes.alerting import FAILURE_KINDS, Where, message
from batchcron.settings import Settings
from batchcron.store.runs import RunStore

if TYPE_CHECKING:
    from batchcron.adapters.slack_app import SlackApp

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
        self._held: dict[str, datetime] = {}  # webhook URL / app channel -> not before
        self._apps: dict[str, SlackApp] = {}
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
        where = Where(region=self.settings.region, log_group=self.settings.job_log_group)
        prices = self._catalogue().prices if self._catalogue is not None else None
        app = self.app_target(job)
        if app is not None:
            token, channel = app
            target = f"app:{channel}"
            if alert.kind == "still_failing" and self._acknowledged(run.job, channel):
                silenced = alert.model_copy(update={"state": "skipped"})
                self.store.finish_alert(run.job, run.run_id, silenced, keep_in_outbox=keep)
                count("AlertsAcknowledged")
                logger.info("alert silenced: streak acknowledged", job=run.job, run_id=run.run_id)
                return False

            def send() -> None:
                self._post_app(
                    run, alert, job, token, channel, message(run, alert, job, where, prices)
                )
        else:
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
            target = url

            def send() -> None:
                self.slack.send(url, message(run, alert, job, where, prices))

        held = self._held.get(target)
        if held is not None and held > now:
            # This webhook rate limited or timed out in this invocation: no request now.
            later = alert.model_copy(update={"next_attempt_at": iso(held)})
            self.store.defer_alert(run.job, run.run_id, later, until=held, keep_in_outbox=keep)
            return False
        try:
            send()
        except SlackError as exc:
            if self._failed_attempt(run, alert, exc, target, now, keep=keep):
                return False  # given up: nothing more to try
            raise
        sent = alert.model_copy(update={"state": "sent", "sent_at": iso(self.clock())})
        recorded = self.store.finish_alert(run.job, run.run_id, sent, keep_in_outbox=keep)
        count("AlertsSent")
        logger.info(
            "alert sent", job=run.job, run_id=run.run_id, alert=alert.kind, recorded=recorded
        )
        return True

    # --- Slack app mode ------------------------------------------------------------------------

    def app_target(self, job: Job | None) -> tuple[str, str] | None:
        """(bot token, channel) when Slack app mode is on for `job`'s alerts, else None."""
        arn = self.settings.slack_bot_token_secret_arn
        if not arn:
            return None
        channel = (job.notify.slack_channel if job else None) or self.settings.slack_channel
        token = self.secret(arn).strip()
        if not token or token == PLACEHOLDER or not channel:
            return None
        return token, channel

    def _app(self, token: str) -> SlackApp:
        client = self._apps.get(token)
        if client is None:
            from batchcron.adapters.slack_app import SlackApp

            client = self._apps[token] = SlackApp(token, self.settings.slack_api_url)
        return client

    def _acknowledged(self, job: str, channel: str) -> bool:
        state = self.store.job_state(job)
        return bool(
            state.slack_acked_by and state.slack_thread_ts and state.slack_thread_channel == channel
        )

    def _post_app(
        self,
        run: Run,
        alert: Alert,
        job: Job | None,
        token: str,
        channel: str,
        text: dict[str, Any],
    ) -> None:
        """The first failure of a streak posts at the top level, with buttons, and starts its
        thread; "still failing" and "recovered" reply in that thread, and recovery edits the
        first message (before replying: a retry after a failed reply edits it again, which is
        harmless). SlackError when Slack does not take it."""
        from batchcron.outcomes.alerting import recovered_first, with_buttons

        client = self._app(token)
        state = self.store.job_state(run.job)
        thread = state.slack_thread_ts if state.slack_thread_channel == channel else None
        if alert.kind in FAILURE_KINDS and (alert.kind == "failed" or thread is None):
            paused = state.paused or alert.kind == "paused"
            ts = client.post(channel, with_buttons(text, run.job, paused=paused))
            self.store.update_job_state(
                run.job,
                {
                    "slack_thread_ts": ts,
                    "slack_thread_channel": channel,
                    "slack_thread_run_id": run.run_id,
                    "slack_acked_by": None,
                },
            )
            return
        if thread is None:
            client.post(channel, text)
            return
        if alert.kind == "recovered":
            first = (
                self.store.get_run(run.job, state.slack_thread_run_id)
                if state.slack_thread_run_id
                else None
            )
            where = Where(region=self.settings.region, log_group=self.settings.job_log_group)
            first_text = (
                message(first, first.alert, job, where)
                if first is not None and first.alert is not None
                else {"text": f"{run.job} failed", "blocks": []}
            )
            at = self.clock().strftime("%H:%M")
            client.update(
                channel, thread, recovered_first(first_text, f"recovered {at} by {run.run_id}")
            )
        client.post(channel, text, thread_ts=thread)
        if alert.kind == "recovered":
            self.store.update_job_state(
                run.job,
                {
                    "slack_thread_ts": None,
                    "slack_thread_channel": None,
                    "slack_thread_run_id": None,
                    "slack_acked_by": None,
                },
            )

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
        """Send one plain alert (a missed deadline, its follow-up) about `job`. False when
        nowhere to send it is configured (logged); SlackError when Slack does not take it."""
        from batchcron.outcomes.alerting import plain_message

        return self._line(job, plain_message(text), text)

    def notice(self, job: Job, text: str) -> bool:
        """Send one line about `job` that no run carries (an overdue wait, its end). True when
        sent or there is nowhere to send it (logged); SlackError when Slack did not take it
        (the caller tries again later)."""
        if not job.notify.enabled:
            return True
        self._line(job, {"text": text}, text)
        return True

    def _line(self, job: Job | None, payload: dict[str, Any], text: str) -> bool:
        """One line no run carries: to the app's channel in Slack app mode, else the webhook."""
        app = self.app_target(job)
        if app is not None:
            token, channel = app
            self._app(token).post(channel, payload)
        else:
            url = self.webhook_url(job)
            if url is None:
                logger.warning("no Slack webhook configured; alert skipped", text=text)
                count("AlertsSkipped")
                return False
            self.slack.send(url, payload)
        count("AlertsSent")
        logger.info("notice sent", job=job.name if job else None, text=text)
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
