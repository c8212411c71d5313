"""The ByJobTime index (job, gsi1sk) under moto: sparse, so it holds a job's run items only and
`runs_for_job` finds the newest run whatever the job is called (a name starting with a digit
sorts among the `<created>#<run id>` keys, where a STATE or RECENT item would come first)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest

from batchcron.models import Run, Status, iso
from batchcron.settings import settings
from batchcron.store.items import _de, _ser
from batchcron.store.recent import recent_key
from batchcron.store.runs import RunStore
from batchcron.store.state import state_key

T0 = datetime(2026, 1, 1, tzinfo=UTC)
JOB = "2fa-job"  # "2fa-job" > "2026-…": as a gsi1sk it would sort after every run's time


@pytest.fixture
def store(aws_env: Any) -> RunStore:
    return RunStore(settings().runs_table, boto3.client("dynamodb"))


def claim(store: RunStore, n: int, status: Status = Status.SUCCEEDED) -> Run:
    moment = T0 + timedelta(hours=n)
    run = Run(
        job=JOB,
        run_id=f"{JOB}-{moment:%Y%m%dT%H%M%S}",
        trigger="schedule",
        status=status,
        created_at=iso(moment) or "",
    )
    assert store.claim_run(run)
    return run


def raw(store: RunStore, key: dict[str, str]) -> dict[str, Any]:
    item = store.client.get_item(TableName=store.table, Key=_ser(key), ConsistentRead=True)
    return _de(item["Item"])


def with_state_and_recent(store: RunStore) -> list[Run]:
    runs = [claim(store, n) for n in range(3)]
    store.update_job_state(JOB, {"paused": False})
    store.settle_outcome(
        JOB, runs[-1].run_id, failed=False, finished_at=runs[-1].created_at, status="SUCCEEDED"
    )
    return runs


def test_state_and_recent_items_never_carry_the_index_key(store: RunStore) -> None:
    with_state_and_recent(store)
    for key in (state_key(JOB), recent_key(JOB)):
        item = raw(store, key)
        assert "job" not in item, item["sk"]
    index = store.client.query(
        TableName=store.table,
        IndexName="ByJobTime",
        KeyConditionExpression="#job = :job",
        ExpressionAttributeNames={"#job": "job"},
        ExpressionAttributeValues=_ser({":job": JOB}),
    )["Items"]
    assert {_de(item)["sk"] for item in index} == {
        f"RUN#{JOB}-2026010{1}T0{n}0000" for n in range(3)
    }


def test_the_latest_run_of_a_job_named_with_a_digit_first_is_found(store: RunStore) -> None:
    runs = with_state_and_recent(store)
    [latest] = store.runs_for_job(JOB, limit=1)
    assert latest.run_id == runs[-1].run_id
    assert [run.run_id for run in store.runs_for_job(JOB)] == [r.run_id for r in reversed(runs)]
    assert store.job_state(JOB).job == JOB  # the state's job comes from its key


def test_items_written_before_the_index_was_sparse_lose_their_job_on_the_next_write(
    store: RunStore,
) -> None:
    runs = with_state_and_recent(store)
    for key in (state_key(JOB), recent_key(JOB)):
        store.client.update_item(
            TableName=store.table,
            Key=_ser(key),
            UpdateExpression="SET #job = :job",
            ExpressionAttributeNames={"#job": "job"},
            ExpressionAttributeValues=_ser({":job": JOB}),
        )
    store.update_job_state(JOB, {"paused": True})
    store.note_run({**runs[-1].model_dump(mode="json"), "rev": 5})
    for key in (state_key(JOB), recent_key(JOB)):
        assert "job" not in raw(store, key), key
    [latest] = store.runs_for_job(JOB, limit=1)
    assert latest.run_id == runs[-1].run_id
