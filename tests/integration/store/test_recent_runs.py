"""Each job's newest runs on one RECENT item (store/recent.py) under moto: written after every
run write that changes a cell, newest revision wins, seeded from older runs, trimmed, healed by
redelivered events; and the grid reading every job in two queries."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from batchcron.catalogue.loading import parse_catalogue
from batchcron.models import Alert, Run, Status, iso
from batchcron.outcomes.events import parse_event
from batchcron.outcomes.notify import Notifier
from batchcron.outcomes.record import Recorder
from batchcron.settings import settings
from batchcron.store.items import _ser
from batchcron.store.recent import RECENT_KEEP, recent_key
from batchcron.store.runs import RunStore, run_item
from tests.batch_events import batch_event

CATALOGUE = """
jobs:
  parish:
    repository: digital-land/parish-collection
    schedule: "0 0 * * *"
"""
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def make_run(n: int, job: str = "parish", status: Status = Status.CLAIMED) -> Run:
    moment = T0 + timedelta(days=n)
    return Run(
        job=job,
        run_id=f"{job}-{moment:%Y%m%dT%H%M%S}",
        trigger="schedule",
        status=status,
        created_at=iso(moment) or "",
    )


@pytest.fixture
def store(aws_env: Any) -> RunStore:
    return RunStore(settings().runs_table, boto3.client("dynamodb"))


def cells(store: RunStore, job: str = "parish") -> dict[str, dict[str, Any]]:
    found = store.recent_cells().get(job, {})
    assert isinstance(found, dict), found
    return found


class RecentWrites:
    """Counts the writes of RECENT items; fails them while `failing`."""

    def __init__(self, store: RunStore, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        self.failing = False
        for name in ("update_item", "put_item"):
            monkeypatch.setattr(store.client, name, self._watch(getattr(store.client, name)))

    def _watch(self, original: Any) -> Any:
        def call(**request: Any) -> Any:
            key = request.get("Key") or request.get("Item") or {}
            if key.get("sk") == {"S": "RECENT"}:
                self.count += 1
                if self.failing:
                    raise ClientError(
                        {"Error": {"Code": "InternalServerError", "Message": "injected"}},
                        "UpdateItem",
                    )
            return original(**request)

        return call


@pytest.fixture
def writes(store: RunStore, monkeypatch: pytest.MonkeyPatch) -> Iterator[RecentWrites]:
    yield RecentWrites(store, monkeypatch)


def overwrite_cells(store: RunStore, text: str) -> None:
    """Set parish's RECENT cells to `text` behind the store's back."""
    store.client.update_item(
        TableName=store.table,
        Key=_ser(recent_key("parish")),
        UpdateExpression="SET #cells = :text",
        ExpressionAttributeNames={"#cells": "cells"},
        ExpressionAttributeValues={":text": {"S": text}},
    )


def start(store: RunStore, run: Run) -> None:
    """Claim a run and record it RUNNING (as its Batch event would)."""
    assert store.claim_run(run)
    store.update_run(run.job, run.run_id, {"status": "RUNNING"})


def test_the_submit_path_writes_no_cell_and_the_first_batch_event_does(
    store: RunStore, writes: RecentWrites
) -> None:
    catalogue = parse_catalogue(CATALOGUE)
    recorder = Recorder(catalogue, store, Notifier(store, settings(), catalogue=lambda: catalogue))
    run = make_run(0)
    store.claim_run(run)
    store.update_run("parish", run.run_id, {"status": "SUBMITTED"})
    assert writes.count == 0  # a Batch event follows within seconds
    recorder.record(parse_event(batch_event("RUNNABLE", 0, run_id=run.run_id)))
    assert cells(store)[run.run_id]["s"] == "RUNNABLE"


@pytest.mark.parametrize("status", [Status.SKIPPED, Status.QUEUED, Status.SUBMIT_FAILED])
def test_a_status_no_batch_event_follows_is_a_cell_at_once(store: RunStore, status: Status) -> None:
    skipped = make_run(1, status=Status.SKIPPED)
    store.claim_run(skipped)  # claimed with its outcome
    assert cells(store)[skipped.run_id]["s"] == "SKIPPED"
    run = make_run(2)
    store.claim_run(run)
    store.update_run("parish", run.run_id, {"status": status, "reason": "why"})
    assert cells(store)[run.run_id]["s"] == status.value


def test_status_changes_replace_the_cell_and_bookkeeping_writes_leave_it(
    store: RunStore, writes: RecentWrites
) -> None:
    run = make_run(1)
    store.claim_run(run)
    store.update_run(
        "parish", run.run_id, {"status": "RUNNING", "started_at": "2026-01-02T00:00:01Z"}
    )
    assert cells(store)[run.run_id]["s"] == "RUNNING"
    written = writes.count
    # When only the outbox and the alert change
    store.claim_alert("parish", run.run_id, Alert(kind="failed"), outbox_at=T0)
    store.leave_outbox("parish", run.run_id)
    # Then the cell is not rewritten
    assert writes.count == written
    store.update_run("parish", run.run_id, {"status": "FAILED", "exit_code": 3})
    cell = cells(store)[run.run_id]
    assert (cell["s"], cell["x"]) == ("FAILED", 3)
    stored = store.client.get_item(
        TableName=store.table, Key=_ser({"pk": "JOB#parish", "sk": f"RUN#{run.run_id}"})
    )["Item"]
    assert stored["rev"] == {"N": str(cell["v"])}  # the cell is the run's latest revision


def test_an_older_revision_never_replaces_a_newer_cell(store: RunStore) -> None:
    run = make_run(1)
    store.claim_run(run)
    store.update_run("parish", run.run_id, {"status": "RUNNING"})
    newer = store.client.get_item(
        TableName=store.table, Key=_ser({"pk": "JOB#parish", "sk": f"RUN#{run.run_id}"})
    )
    # When a slow writer arrives with what it read before the RUNNING write
    store.note_run({**run_item(run), "rev": 1})
    assert cells(store)[run.run_id]["s"] == "RUNNING"
    assert newer["Item"]["rev"] == {"N": "2"}


def test_the_first_cell_seeds_the_item_from_runs_written_before_it(store: RunStore) -> None:
    # Given runs written before RECENT items existed (no rev, no cell)
    for n in range(3):
        item = run_item(make_run(n, status=Status.SUCCEEDED))
        del item["rev"]
        store.client.put_item(TableName=store.table, Item=_ser(item))
    assert cells(store) == {}
    # When a new run starts
    newest = make_run(3)
    start(store, newest)
    # Then the item holds the old runs too
    found = cells(store)
    assert sorted(found) == sorted(make_run(n).run_id for n in range(4))
    assert found[make_run(0).run_id]["s"] == "SUCCEEDED"
    assert found[newest.run_id]["s"] == "RUNNING"


def test_the_item_keeps_the_newest_runs_only(store: RunStore) -> None:
    total = RECENT_KEEP + 7
    for n in range(total):
        start(store, make_run(n))
        assert len(cells(store)) <= RECENT_KEEP
    newest = sorted((make_run(n).run_id for n in range(total)), reverse=True)[:RECENT_KEEP]
    assert sorted(cells(store), reverse=True) == newest
    # A late write of a run older than every cell kept leaves the item as it is
    store.update_run("parish", make_run(0).run_id, {"status": "SUCCEEDED"})
    assert sorted(cells(store), reverse=True) == newest


def test_an_unreadable_item_is_rebuilt_from_the_runs(store: RunStore) -> None:
    start(store, make_run(1))
    overwrite_cells(store, "{not json")
    assert isinstance(store.recent_cells()["parish"], ValueError)
    start(store, make_run(2))
    assert sorted(cells(store)) == [make_run(1).run_id, make_run(2).run_id]


def test_batch_events_keep_the_cell_in_step_and_a_redelivery_heals_a_stale_one(
    store: RunStore,
) -> None:
    catalogue = parse_catalogue(CATALOGUE)
    recorder = Recorder(catalogue, store, Notifier(store, settings(), catalogue=lambda: catalogue))
    run_id = "parish-20260101T000000"
    store.claim_run(make_run(0))
    for status in ("RUNNABLE", "RUNNING"):
        recorder.record(parse_event(batch_event(status, 0, run_id=run_id)))
        assert cells(store)[run_id]["s"] == status
    done = batch_event("SUCCEEDED", 1, run_id=run_id)
    recorder.record(parse_event(done))
    cell = cells(store)[run_id]
    assert (cell["s"], cell["x"]) == ("SUCCEEDED", 0)
    assert cell["b"] and cell["e"]
    # Given the cell was lost (or never written)
    overwrite_cells(store, "{}")
    # When the terminal event is delivered again (a duplicate: nothing else changes)
    assert not recorder.record(parse_event(done)).applied
    # Then the cell is back
    assert cells(store)[run_id]["s"] == "SUCCEEDED"


def test_a_failed_cell_write_never_fails_the_runs_write_and_the_next_write_puts_it_right(
    store: RunStore, writes: RecentWrites, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = make_run(1), make_run(2)
    start(store, first)
    writes.failing = True
    start(store, second)  # the run is recorded: the grid is not its business
    store.update_run("parish", first.run_id, {"status": "SUCCEEDED"})
    assert store.get_run("parish", second.run_id).status == Status.RUNNING  # type: ignore[union-attr]
    assert second.run_id not in cells(store)
    assert cells(store)[first.run_id]["s"] == "RUNNING"
    assert "could not note the run" in caplog.text
    writes.failing = False
    store.update_run("parish", second.run_id, {"status": "FAILED", "exit_code": 2})
    store.update_run("parish", first.run_id, {"status": "SUCCEEDED", "exit_code": 0})
    assert {k: v["s"] for k, v in cells(store).items()} == {
        first.run_id: "SUCCEEDED",
        second.run_id: "FAILED",
    }


def test_a_failed_cell_write_fails_the_event_and_its_redelivery_writes_the_cell(
    store: RunStore, writes: RecentWrites
) -> None:
    catalogue = parse_catalogue(CATALOGUE)
    recorder = Recorder(catalogue, store, Notifier(store, settings(), catalogue=lambda: catalogue))
    run_id = "parish-20260101T000000"
    start(store, make_run(0))
    event = batch_event("SUCCEEDED", 1, run_id=run_id)
    writes.failing = True
    with pytest.raises(ClientError):
        recorder.record(parse_event(event))
    # The run and its job state are recorded; only the cell is behind
    assert store.get_run("parish", run_id).status == Status.SUCCEEDED  # type: ignore[union-attr]
    assert store.job_state("parish").last_status == "SUCCEEDED"
    assert cells(store)[run_id]["s"] == "RUNNING"
    writes.failing = False
    recorder.record(parse_event(event))  # Lambda's retry of the failed invocation
    assert cells(store)[run_id]["s"] == "SUCCEEDED"
    assert store.job_state("parish").consecutive_failures == 0


def test_writers_racing_on_a_new_job_lose_no_cell(store: RunStore) -> None:
    runs = [make_run(n, job="fresh") for n in range(8)]
    go = threading.Barrier(len(runs))
    errors: list[BaseException] = []

    def claim(run: Run) -> None:
        try:
            go.wait()
            start(store, run)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=claim, args=(run,)) for run in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sorted(cells(store, "fresh")) == sorted(run.run_id for run in runs)


def test_the_grid_reads_every_job_in_two_queries(
    store: RunStore, monkeypatch: pytest.MonkeyPatch, tmp_path: Any
) -> None:
    from batchcron.adapters import aws
    from batchcron.ui.app import Request, StatusPage
    from batchcron.ui.source import Source

    jobs = [f"job-{i}" for i in range(5)]
    catalogue = tmp_path / "jobs.yaml"
    catalogue.write_text(
        "jobs:\n" + "".join(f"  {job}:\n    repository: acme/{job}\n" for job in jobs)
    )
    monkeypatch.setenv("JOBS_FILE", str(catalogue))
    for job in jobs:
        for n in range(3):
            run = make_run(n, job=job)
            store.claim_run(run)
            store.update_run(job, run.run_id, {"status": "SUCCEEDED", "exit_code": 0})
        store.settle_outcome(
            job,
            make_run(2, job=job).run_id,
            failed=False,
            finished_at=iso(T0) or "",
            status="SUCCEEDED",
        )
    calls: Counter[str] = Counter()  # from here: the page's reads only
    client = aws.dynamodb()
    client.meta.events.register(
        "before-call.dynamodb.*", lambda model, **_: calls.update([model.name])
    )
    page = StatusPage(Source(region="eu-west-2", log_group=None, console_links=False), port=8321)
    response = page.handle(Request.from_target("GET", "/", {"host": "127.0.0.1:8321"}))
    assert response.status == 200
    assert calls == Counter({"Query": 2})
    body = response.body.decode()
    for job in jobs:
        assert body.count(f'href="/runs/{job}/') == 3
