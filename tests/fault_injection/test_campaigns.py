"""The fault-injection suite: each campaign must lose nothing and duplicate nothing, and must
actually have injected its faults (a campaign that injected none proves nothing)."""

from __future__ import annotations

from tests.fault_injection import campaigns
from tests.fault_injection.harness import Tally


def _nothing_lost_or_duplicated(tally: Tally) -> None:
    assert tally.faults > 0, tally
    assert tally.lost == 0, tally
    assert tally.duplicates == 0, tally
    assert tally.done == tally.expected > 0, tally


def test_webhook_fuzz_never_5xx_and_never_submits_unsigned() -> None:
    tally = campaigns.webhook_fuzz()
    _nothing_lost_or_duplicated(tally)
    assert tally.detail["server_errors"] == 0, tally
    assert tally.detail["submissions_without_valid_signature"] == 0, tally
    assert tally.detail["valid_pushes"] > 10 and tally.detail["redeliveries"] > 0, tally
    assert tally.detail["status_413"] == 2, tally


def test_submit_storm_of_throttling_and_5xx_submits_every_due_run_exactly_once() -> None:
    tally = campaigns.submit_storm()
    _nothing_lost_or_duplicated(tally)
    assert tally.detail["throttled"] > 0 and tally.detail["server_errors"] > 0, tally
    assert tally.detail["answers_lost"] > 0, tally
    assert tally.detail["recorded_submitted"] == tally.expected, tally
    assert tally.detail["unexpected_runs"] == 0, tally


def test_dispatcher_race_submits_one_run_per_slot() -> None:
    tally = campaigns.dispatcher_race()
    _nothing_lost_or_duplicated(tally)
    assert tally.detail["tick_errors"] == 0, tally
    assert tally.detail["submitted_outcomes"] == tally.expected, tally
    assert tally.detail["duplicate_outcomes"] > 0, tally  # the rival lost real races


def test_dispatcher_crash_between_claim_and_submit_still_runs_once() -> None:
    tally = campaigns.dispatcher_crash()
    _nothing_lost_or_duplicated(tally)
    assert tally.detail["crashes_before_submit"] > 0, tally
    assert tally.detail["crashes_after_submit"] > 0, tally
    assert tally.detail["recorded_submitted"] == tally.expected, tally
    assert tally.detail["recorded_missed"] == 0, tally


def test_state_events_in_any_order_give_the_same_records_and_alerts() -> None:
    tally = campaigns.state_events()
    _nothing_lost_or_duplicated(tally)
    assert tally.detail["duplicated"] > 0 and tally.detail["late"] > 0, tally
    assert tally.detail["job_states_equal"] == tally.detail["job_states"], tally
    assert tally.detail["alerts_chaos"] == tally.detail["alerts_reference"] > 0, tally
    assert tally.detail["alerts_unexpected"] == 0, tally


def test_slack_outage_delivers_every_alert_once_acknowledged() -> None:
    tally = campaigns.slack_outage()
    _nothing_lost_or_duplicated(tally)
    assert tally.detail["records_written"] == tally.detail["runs"], tally
    assert tally.detail["alerts_recorded_sent"] == tally.detail["alerts_raised"], tally
    assert tally.detail["invocations_failed_on_slack"] > 0, tally
    assert tally.detail["sends_after_replaying_every_event"] == 0, tally


def test_outage_runs_only_the_latest_slot_and_records_the_rest_missed() -> None:
    tally = campaigns.outage()
    _nothing_lost_or_duplicated(tally)
    assert tally.detail["latest_slots_run"] == tally.detail["latest_slots_expected"] > 0, tally
    assert tally.detail["missed_counted"] == tally.detail["missed_expected"] > 0, tally
    assert tally.detail["repeat_tick_actions"] == 0, tally
