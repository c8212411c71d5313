"""Only the Batch job batchcron submitted speaks for a run; array children and multi-node
nodes are progress on their parent's run, whose own terminal event decides the outcome."""

from __future__ import annotations

from typing import Any

from batchcron.models import Run, Status
from tests.batch_events import batch_event
from tests.integration.outcomes.test_job_state import FakeSlack, World, slack, world

__all__ = ["slack", "world"]  # the fixtures, shared

PARENT = "a1b2c3d4-0000-4000-8000-000000000001"


def claimed(world: World, run_id: str, batch_job_id: str) -> None:
    """A run the submit path left after SubmitJob returned `batch_job_id`."""
    world.store.claim_run(
        Run(
            job="parish",
            run_id=run_id,
            trigger="schedule",
            status=Status.SUBMITTED,
            created_at="2026-01-01T00:00:00.000Z",
            batch_job_id=batch_job_id,
            max_attempts=1,
        )
    )
    world.store.update_job_state("parish", {"active_run_id": run_id})


def test_a_job_forging_batchcrons_tags_changes_no_catalogue_run(world: World) -> None:
    # Given a job submitted by hand with parish's tags and tomorrow's run id
    tomorrow = "parish-20260201T000000"
    forged = batch_event("SUCCEEDED", 1, run_id=tomorrow, job_id="f0f0f0f0-dead-beef", job_name="x")

    # When its events arrive
    world.record(
        batch_event("RUNNING", 0, run_id=tomorrow, job_id="f0f0f0f0-dead-beef", job_name="x")
    )
    result = world.record(forged)

    # Then it is a foreign run under its own key, and parish has no run, no state change
    assert result.job == "parish-foreign" and result.run_id == "x-f0f0f0f0"
    assert world.store.get_run("parish", tomorrow) is None
    assert world.store.runs_for_job("parish") == []
    state = world.store.job_state("parish")
    assert state.active_run_id is None and state.last_status is None
    # ...so the real slot is still claimed (and submitted) when it comes
    assert world.store.claim_run(
        Run(
            job="parish",
            run_id=tomorrow,
            trigger="schedule",
            status=Status.CLAIMED,
            created_at="2026-02-01T00:00:00.000Z",
        )
    )


def test_a_forged_event_for_a_real_run_does_not_overwrite_it(world: World) -> None:
    claimed(world, "parish-20260101T000000", PARENT)

    # A foreign job naming the real run reports success; batchcron's own job then fails
    world.record(batch_event("SUCCEEDED", 1, job_id="99999999-0000-4000-8000-000000000000"))
    world.record(batch_event("FAILED", 1, job_id=PARENT, exit_code=3))

    run = world.run("parish", "parish-20260101T000000")
    assert run.status == Status.FAILED and run.exit_code == 3
    assert world.store.job_state("parish").consecutive_failures == 1


def array_event(
    status: str, job_id: str, *, size: int | None = None, index: int | None = None
) -> dict[str, Any]:
    event = batch_event(status, 1 if status in ("SUCCEEDED", "FAILED") else 0, job_id=job_id)
    detail = event["detail"]
    properties: dict[str, Any] = {}
    if size is not None:
        properties["size"] = size
    if index is not None:
        properties["index"] = index
    detail["arrayProperties"] = properties
    return event


def test_an_array_parent_with_a_failed_child_ends_failed_with_one_alert(
    world: World, slack: FakeSlack
) -> None:
    # Given batchcron's array job of three children
    claimed(world, "parish-20260101T000000", PARENT)

    # When the parent is pending, child 1 fails, the others succeed, then the parent fails
    world.record(array_event("PENDING", PARENT, size=3))
    world.record(array_event("SUCCEEDED", f"{PARENT}:0", index=0))
    world.record(array_event("FAILED", f"{PARENT}:1", index=1))
    world.record(array_event("SUCCEEDED", f"{PARENT}:2", index=2))
    world.record(array_event("SUCCEEDED", f"{PARENT}:0", index=0))  # a duplicate
    world.record(array_event("FAILED", PARENT, size=3))

    # Then the run is FAILED, its children counted, and Slack heard once, with the children
    run = world.run("parish", "parish-20260101T000000")
    assert run.status == Status.FAILED
    children = run.children
    assert children is not None
    assert (children.succeeded, children.failed, children.total) == (2, 1, 3)
    assert children.failed_indexes == [1]
    assert slack.headlines() == [":x: parish failed"]
    assert "1 of 3 array children failed: index 1" in str(slack.accepted[0][1])


def test_children_never_decide_the_outcome_even_last(world: World, slack: FakeSlack) -> None:
    claimed(world, "parish-20260101T000000", PARENT)

    world.record(array_event("FAILED", PARENT, size=2))
    world.record(array_event("SUCCEEDED", f"{PARENT}:1", index=1))

    assert world.run("parish", "parish-20260101T000000").status == Status.FAILED
    assert len(slack.headlines()) == 1


def test_a_foreign_array_is_one_run(world: World) -> None:
    job_id = "c0ffee00-1111-4000-8000-000000000002"
    events = [array_event("PENDING", job_id, size=2)]
    events += [array_event("SUCCEEDED", f"{job_id}:{n}", index=n) for n in range(2)]
    events += [array_event("SUCCEEDED", job_id, size=2)]
    for event in events:
        detail = event["detail"]
        detail["tags"] = {}
        detail["jobName"] = "reprocess"
        detail["container"]["environment"] = []
    for event in events:
        world.record(event)

    [run] = world.store.runs_for_job("reprocess")
    assert run.status == Status.SUCCEEDED and run.run_id == "reprocess-c0ffee00"
    assert run.children is not None and (run.children.succeeded, run.children.total) == (2, 2)


def test_a_multi_node_job_whose_main_node_fails_ends_failed(world: World, slack: FakeSlack) -> None:
    claimed(world, "parish-20260101T000000", PARENT)
    for index, status in ((0, "FAILED"), (1, "SUCCEEDED")):
        node = batch_event(status, 1, job_id=f"{PARENT}#{index}")
        node["detail"]["nodeDetails"] = {"nodeIndex": index, "isMainNode": index == 0}
        world.record(node)
    parent = batch_event("FAILED", 1, job_id=PARENT)
    parent["detail"]["nodeProperties"] = {"numNodes": 2, "mainNode": 0}
    world.record(parent)

    run = world.run("parish", "parish-20260101T000000")
    assert run.status == Status.FAILED
    assert run.children is not None and run.children.failed_indexes == [0]
    assert "1 of 2 nodes failed: index 0" in str(slack.accepted[0][1])


def test_a_failed_foreign_run_then_two_successes_leaves_the_job_not_failing(
    world: World,
) -> None:
    from datetime import UTC, datetime

    from batchcron.store.recent import decode_cells, newest, recent_key

    # Given a hand-run of parish's repository that failed (its id sorts after parish's own)
    hand = batch_event(
        "FAILED", 1, job_id="ffffffff-2222-4000-8000-000000000003", job_name="reprocess-parish"
    )
    hand["detail"]["tags"] = {}
    hand["detail"]["container"]["environment"] = [
        {"name": "REPOSITORY", "value": "parish-collection"}
    ]
    world.record(hand)
    # ...then two of batchcron's runs that succeeded, created later
    for n, month in enumerate((2, 3)):
        run_id = f"parish-20260{month}01T000000"
        job_id = f"0000000{n}-3333-4000-8000-000000000004"
        world.store.claim_run(
            Run(
                job="parish",
                run_id=run_id,
                trigger="schedule",
                status=Status.SUBMITTED,
                created_at=f"2026-0{month}-01T00:00:00.000Z",
                batch_job_id=job_id,
            )
        )
        start = datetime(2026, month, 1, 0, 0, 1, tzinfo=UTC)
        world.record(batch_event("SUCCEEDED", 1, run_id=run_id, job_id=job_id, start=start))

    # Then the newest run is the last success, by time, and nothing says failing
    [latest] = world.store.runs_for_job("parish", limit=1)
    assert latest.run_id == "parish-20260301T000000"
    assert [run.run_id for run in world.store.runs_for_job("parish")][-1] == (
        "reprocess-parish-ffffffff"
    )
    assert world.store.job_state("parish").consecutive_failures == 0
    item = world.store._get(recent_key("parish"))
    assert item is not None
    assert next(iter(newest(decode_cells(item["cells"])))) == "parish-20260301T000000"
