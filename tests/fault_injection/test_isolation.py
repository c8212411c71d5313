"""Fault isolation: one fault in one job, one alert or one input stops nothing else."""

from __future__ import annotations

from tests.fault_injection import isolation
from tests.fault_injection.harness import Tally


def _nothing_lost_or_duplicated(tally: Tally) -> None:
    assert tally.faults > 0, tally
    assert tally.lost == 0, tally
    assert tally.duplicates == 0, tally
    assert tally.done == tally.expected > 0, tally


def test_poison_job_never_stops_the_healthy_ones() -> None:
    tally = isolation.poison_job()
    _nothing_lost_or_duplicated(tally)
    d = tally.detail
    assert d["healthy_submitted_in_their_tick"] == d["healthy_ticks"] > 0, tally
    assert d["watermark_on_time"] == d["ticks"], tally
    assert d["poison_submit_failed"] == d["poison_slots"] > 0, tally
    assert d["poison_missed"] == 0 and d["poison_in_batch"] == 0, tally
    assert d["poison_runs_alerted_once"] == d["poison_alerts"] == d["poison_slots"], tally
    assert d["access_denied"] > 0 and d["unexpected_errors"] > 0, tally
    # every tick with a poison slot fails after doing the rest (the failure destination sees it);
    # later ticks fail too while an unexpected error keeps recurring in the re-drive
    assert d["healthy_ticks"] <= d["failed_ticks"] <= d["ticks"], tally


def test_slack_backlog_never_delays_submits_and_every_alert_ends() -> None:
    tally = isolation.slack_backlog()
    _nothing_lost_or_duplicated(tally)
    d = tally.detail
    for name in ("429", "hang", "503", "404"):
        assert d[f"{name}_submits_before_first_slack"] == 1, (name, tally)
        assert d[f"{name}_submitted_in_tick"] == d[f"{name}_healthy"], (name, tally)
        assert d[f"{name}_payloads_over_limits"] == 0, (name, tally)
        assert d[f"{name}_alerts_pending"] == 0, (name, tally)
    # a webhook that rate limits or hangs gets one request per tick, not one per alert
    assert d["429_slack_requests_in_tick"] == 1 and d["hang_slack_requests_in_tick"] == 1, tally
    # the tick's budget (fake clock: each request costs the client's worst case) bounds the rest
    assert 1 < d["503_slack_requests_in_tick"] <= 15, tally
    assert d["503_outbox_deferred"] > 0, tally
    assert d["404_crashed_claim_redriven"] == 1, tally
    assert d["404_alerts_failed"] == d["404_alerts"] == 200, tally


def test_future_tick_is_refused_and_schedules_go_on() -> None:
    tally = isolation.future_tick()
    _nothing_lost_or_duplicated(tally)
    d = tally.detail
    assert d["refused"] == d["future_ticks"] > 0, tally
    assert d["watermark_moved"] == 0 and d["submitted_by_future_ticks"] == 0, tally
    assert d["watermark_past_clock"] == 0, tally


def test_paused_failed_submit_is_not_submitted() -> None:
    tally = isolation.paused_failed_submit()
    _nothing_lost_or_duplicated(tally)
    d = tally.detail
    assert d["paused_submitted"] == 0, tally
    assert d["paused_recorded_skipped"] == d["paused"] > 0, tally
    assert d["queued_start_action_skipped"] == 1, tally
    assert d["unexpected_runs"] == 0, tally


def test_huge_inputs_are_recorded_and_alerted() -> None:
    tally = isolation.huge_inputs()
    _nothing_lost_or_duplicated(tally)
    d = tally.detail
    assert d["records"] == d["events"] and d["alerts_sent"] == d["events"], tally
    assert d["slack_refused"] == 0 and d["payloads_over_limits"] == 0, tally
    assert d["distinct_foreign_jobs"] == d["events"] // 2, tally
    assert d["longest_key_bytes"] <= 2048, tally
    assert d["reasons_truncated"] == d["events"], tally
