"""Loaded by every Python process of the calendar campaign (tools/calendar.sh puts this folder
on PYTHONPATH): a `time.sleep` that works under libfaketime with the monotonic clock left real.

libfaketime 0.9.10 (Debian bookworm's) mistranslates `clock_nanosleep(CLOCK_MONOTONIC,
TIMER_ABSTIME, ...)` when DONT_FAKE_MONOTONIC=1, and Python 3.11's `time.sleep` is that call:
every sleep fails with EINVAL (libfaketime issue #426, fixed after 0.9.10). Faking the monotonic
clock instead hangs every timed wait of a thread (`Event.wait`, `Lock.acquire(timeout=)`, whose
`sem_clockwait` libfaketime does not translate). So the campaign keeps the monotonic clock real
(and turns off libfaketime's condition-variable "monotonic fix", FAKETIME_FORCE_MONOTONIC_FIX=0,
which mistimes the GIL's hand-over between threads) and sleeps here on a lock's timed wait, which
is real monotonic time and which libfaketime leaves alone. Outside libfaketime this changes
nothing.
"""

from __future__ import annotations

import os
import time


def _under_faketime_with_real_monotonic() -> bool:
    return "faketime" in os.environ.get("LD_PRELOAD", "") and os.environ.get(
        "DONT_FAKE_MONOTONIC"
    ) in ("1", "true")


def _install() -> None:
    import _thread

    monotonic = time.monotonic

    def sleep(seconds: float) -> None:
        if seconds < 0:
            raise ValueError("sleep length must be non-negative")
        deadline = monotonic() + seconds
        lock = _thread.allocate_lock()
        lock.acquire()
        while (left := deadline - monotonic()) > 0:
            lock.acquire(timeout=left)

    sleep.__doc__ = time.sleep.__doc__
    time.sleep = sleep


if _under_faketime_with_real_monotonic():
    _install()
