"""The dispatcher's schedule in local mode: a tick at every minute of the one clock (EventBridge
Scheduler's job in AWS), after an optional replay tick that runs every slot since `replay_from`
once. With `batchcron local --now` the clock starts at the set instant and runs at real speed."""

from __future__ import annotations

import math
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from batchcron.models import iso, utcnow

Deliver = Callable[[dict[str, Any]], Any]
Report = Callable[[str], None]


def boundary_after(moment: float, every: float) -> float:
    """The next multiple of `every` seconds (since the epoch) strictly after `moment`."""
    return (math.floor(moment / every) + 1) * every


class Ticker:
    def __init__(
        self,
        deliver: Deliver,
        *,
        every: float = 60.0,
        replay_from: datetime | None = None,
        report: Report = print,
    ) -> None:
        self.deliver = deliver
        self.every = every
        self.replay_from = replay_from
        self.report = report
        self.ticks = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="ticker", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        now = utcnow()
        if self.replay_from is not None:
            self._tick({"scheduled_time": iso(now), "replay_from": iso(self.replay_from)})
        # The first plain tick sets the watermark: from here each slot runs on its minute.
        self._tick({"scheduled_time": iso(now)})
        while True:
            moment = utcnow().timestamp()
            due = boundary_after(moment, self.every)
            if self._stop.wait(max(0.0, due - moment)):
                return
            self._tick({"scheduled_time": iso(datetime.fromtimestamp(due, UTC))})

    def _tick(self, event: dict[str, Any]) -> None:
        try:
            self.deliver(event)
        except Exception as exc:  # the Lambda would retry; later ticks re-drive what failed
            self.report(f"tick {event.get('scheduled_time')}: {type(exc).__name__}: {exc}")
        finally:
            self.ticks += 1
