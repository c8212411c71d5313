"""Schedules in words ("At 01:00"), for people: the CLI, the status page and local mode.

Uses cron-descriptor, imported on first use: no Lambda handler describes a schedule.
"""

from __future__ import annotations


def describe_schedule(expr: str | None) -> str:
    if not expr:
        return "push/manual only"
    try:
        from cron_descriptor import ExpressionDescriptor, Options

        options = Options()
        options.use_24hour_time_format = True
        return str(ExpressionDescriptor(expr, options).get_description())
    except Exception:  # a description is a nicety; the expression itself was validated
        return expr
