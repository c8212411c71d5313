"""GitHub deliveries -> runs: match the push, deduplicate the delivery, submit, and say what
happened. Takes a verified delivery; knows nothing of HTTP or Lambda."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from batchcron.catalogue.model import Catalogue, Job
from batchcron.models import JobState, iso, parse_time, utcnow
from batchcron.observability import count, logger
from batchcron.pushes.matching import match_push, same_repository, stale_reason
from batchcron.pushes.payload import DEFAULT_GITHUB_HOSTS, PushEvent, parse_ping, parse_push
from batchcron.pushes.signature import BadPayloadError, DeliveryInProgressError
from batchcron.scheduling.submit import (
    Outcome,
    OverrideNotAllowedError,
    Request,
    Submitter,
    run_name,
)
from batchcron.store.items import ConflictError
from batchcron.store.runs import RunStore

# Longer than the function's timeout: a delivery still leased is being processed right now.
LEASE = timedelta(seconds=30)
# Do not start a SubmitJob with less time than this left: say 502 and let a redelivery do it.
MIN_SECONDS_TO_SUBMIT = 4.0


@dataclass(frozen=True)
class Delivery:
    """The verified headers of one delivery."""

    event: str
    delivery_id: str | None = None
    hook_id: str | None = None
    # sha256 of the signed body: the part of a delivery a replay cannot change.
    body_sha256: str | None = None


@dataclass(frozen=True)
class Reply:
    """Status code and JSON body for GitHub."""

    status: int
    body: dict[str, Any]


@dataclass(frozen=True)
class Services:
    """What a push needs (built only for pushes, keeping pings and ignored events cheap)."""

    catalogue: Catalogue
    submitter: Submitter
    # Hosts a push's URLs may name (GITHUB_HOSTS): github.com, or a GitHub Enterprise Server.
    github_hosts: tuple[str, ...] = DEFAULT_GITHUB_HOSTS

    @property
    def store(self) -> RunStore:
        return self.submitter.store


def handle(
    delivery: Delivery,
    payload: dict[str, Any],
    services: Callable[[], Services],
    *,
    clock: Callable[[], datetime] = utcnow,
    time_left: Callable[[], float] | None = None,
) -> Reply:
    """Answer one verified delivery (`payload` is its parsed JSON body)."""
    if delivery.event == "ping":
        ping = parse_ping(payload)
        hook_id = ping.hook_id if ping.hook_id is not None else delivery.hook_id
        return Reply(200, {"ok": True, "hook_id": hook_id})
    if delivery.event != "push":
        return Reply(202, {"ignored": delivery.event})
    push = parse_push(payload)
    if delivery.delivery_id is None:
        raise BadPayloadError("missing X-GitHub-Delivery header")
    if delivery.body_sha256 is None:
        raise ValueError("a push delivery needs the sha256 of its body")
    return PushDelivery(delivery, push, services(), clock=clock, time_left=time_left).process()


class PushDelivery:
    """One push delivery: every catalogued job of the repository, considered once."""

    def __init__(
        self,
        delivery: Delivery,
        push: PushEvent,
        services: Services,
        *,
        clock: Callable[[], datetime],
        time_left: Callable[[], float] | None,
    ) -> None:
        self.delivery = delivery
        self.delivery_id = delivery.delivery_id or ""
        self.hook_id = delivery.hook_id or "none"
        self.push = push
        self.catalogue = services.catalogue
        self.store = services.store
        self.submitter = services.submitter
        self.github_hosts = services.github_hosts
        self.clock = clock
        self.time_left = time_left
        self.received = clock()

    def process(self) -> Reply:
        considered = [
            job
            for job in self.catalogue.jobs.values()
            if job.on_push is not None and same_repository(job, self.push.repository.full_name)
        ]
        results: dict[str, dict[str, Any]] = {}
        matched: list[Job] = []
        if considered:
            # Only a push someone follows is judged by its URLs: others are "no job" whatever
            # host they name (an org webhook sends every repository's pushes here).
            bad = self.push.bad_url(self.github_hosts)
            if bad:
                raise BadPayloadError(f"not a push payload: {bad}")
        for job in considered:
            if not job.enabled:
                results[job.name] = _skipped(job.name, "job disabled")
                continue
            match = match_push(job, self.push)
            if match.matched:
                matched.append(job)
            else:
                results[job.name] = _skipped(job.name, match.reason or "does not match")
        if not matched:
            # Nothing to submit, so nothing to deduplicate: org webhooks send every push here.
            logger.info("push matched no job", considered=len(considered))
            return Reply(202, self._body(considered, results))

        now = self.clock()
        stale = stale_reason(self.push, now)
        if stale:
            count("WebhookStalePushes")
            logger.warning("push too old; nothing submitted", reason=stale)
            for job in matched:
                results[job.name] = _skipped(job.name, "push too old")
            return Reply(202, {**self._body(considered, results), "reason": stale})
        first = self.store.claim_body(
            self.delivery.body_sha256 or "", self.hook_id, self.delivery_id, now=now
        )
        if first is not None:
            count("WebhookReplays")
            logger.warning("body already delivered under another delivery id", first=first)
            return Reply(
                200,
                {
                    **self._body(considered, {}),
                    "duplicate": True,
                    "reason": f"this payload was already delivered (hook/delivery {first}); "
                    "a payload starts runs once, under its first delivery id",
                },
            )
        version, settled = self._begin(now)
        if version is None:
            count("WebhookDuplicates")
            logger.info("duplicate delivery; nothing submitted")
            return Reply(200, {**settled, "duplicate": True})

        states = self.store.job_states([job.name for job in matched])
        for job in matched:
            if job.name in settled:
                results[job.name] = settled[job.name]
                continue
            results[job.name] = self._run(job, states[job.name])

        body = self._body(considered, results)
        failed = [name for name, result in results.items() if result["action"] == "failed"]
        if failed:
            body["failed"] = failed
            body["error"] = "some jobs could not be submitted; redeliver to submit just those"
        try:
            self.store.finish_delivery(
                self.hook_id,
                self.delivery_id,
                version=version,
                done=not failed,
                result=body,
                now=self.clock(),
            )
        except ConflictError:
            logger.warning("delivery taken over by another invocation before it was finished")
        return Reply(502 if failed else 202, body)

    # --- steps --------------------------------------------------------------------------------
    def _begin(self, now: datetime) -> tuple[int | None, dict[str, Any]]:
        """Claim the delivery. (version, settled jobs) when it is ours to process;
        (None, first result) for a duplicate of a finished delivery."""
        existing = self.store.begin_delivery(
            self.hook_id, self.delivery_id, event="push", now=now, lease=LEASE
        )
        self.received = now
        if existing is None:
            return 1, {}
        if existing.get("received_at"):
            # Run ids come from the first receipt, so a redelivery names the same runs: one
            # that was claimed is not run again, one Batch refused is retried.
            self.received = parse_time(str(existing["received_at"]))
        status = existing.get("status")
        if status == "done":
            return None, dict(existing.get("result") or {})
        lease_until = existing.get("lease_until")
        if status == "processing" and lease_until and lease_until > (iso(now) or ""):
            raise DeliveryInProgressError("this delivery is being processed")
        try:
            version = self.store.resume_delivery(
                self.hook_id,
                self.delivery_id,
                version=int(existing.get("version") or 0),
                now=now,
                lease=LEASE,
            )
        except ConflictError:
            raise DeliveryInProgressError("this delivery is being processed") from None
        settled = dict(existing.get("settled") or {})
        logger.info("redelivery: submitting only the jobs not yet submitted", settled=list(settled))
        return version, settled

    def _run(self, job: Job, state: JobState) -> dict[str, Any]:
        if state.paused:
            return _skipped(job.name, "job paused")
        run_id = run_name(job.name, self.received, precise=True)
        if self.time_left is not None and self.time_left() < MIN_SECONDS_TO_SUBMIT:
            outcome = Outcome(job.name, run_id, "failed", reason="not attempted: out of time")
        else:
            request = Request(
                job=job,
                trigger="push",
                run_id=run_id,
                git_ref=self.push.after,
                pusher=self.push.who,
                compare_url=self.push.compare,
            )
            try:
                outcome = self.submitter.trigger(request, state)
            except OverrideNotAllowedError as exc:
                outcome = Outcome(job.name, run_id, "failed", reason=str(exc))
        result = outcome.as_dict()
        if outcome.action != "failed":
            # Recorded at once: a redelivery must not submit this job again.
            self.store.settle_delivery_job(self.hook_id, self.delivery_id, job.name, result)
        return result

    def _body(self, considered: list[Job], results: dict[str, dict[str, Any]]) -> dict[str, Any]:
        body: dict[str, Any] = {
            "event": "push",
            "delivery": self.delivery_id,
            "repository": self.push.repository.full_name,
            "ref": self.push.ref,
            "after": self.push.after,
            "jobs": [results[job.name] for job in considered if job.name in results],
        }
        if not considered:
            body["reason"] = f"no catalogued job has on_push for {self.push.repository.full_name}"
        return body


def _skipped(job: str, reason: str) -> dict[str, Any]:
    return {"job": job, "action": "skipped", "reason": reason}
