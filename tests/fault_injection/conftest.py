"""The fault campaigns are deterministic but CPU-bound: each replays hours of ticks against
moto. On a quiet machine the heaviest takes about 3 minutes; on a loaded one (parallel workers, the
calendar campaign beside other work) it was seen past pytest-timeout's 300 s default, which then
failed a correct test. Their limit is 900 s: still a hang detector, no longer a load detector."""

from __future__ import annotations

import pytest

CAMPAIGN_TIMEOUT_SECONDS = 900


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "fault_injection" in item.nodeid and item.get_closest_marker("timeout") is None:
            item.add_marker(pytest.mark.timeout(CAMPAIGN_TIMEOUT_SECONDS))
