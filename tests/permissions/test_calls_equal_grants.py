"""Calls equal grants, per function: every AWS call each Lambda function made in the
integration and fault-injection suites is allowed by that function's role in the
SAM-transformed template (action, resource ARN, condition keys), and every grant is used by
some call or explained in tests/permissions/justified.py. Dropping any one statement from any
role makes the check fail.

The calls come from tests/permissions/recorder.py: `make pytest` runs the parallel suites with
BATCHCRON_CALL_RECORDINGS set, then this directory. Run alone, this module runs the suites
that exercise the handlers itself (in a subprocess) to record their calls.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.permissions import recorder
from tests.permissions.check import Case, cases, check, origins
from tests.permissions.policies import FUNCTIONS, ROOT, transformed_template
from tests.permissions.recorder import ENV_DIR, Recording

REQUIRED_SUITES = {"integration", "fault_injection"}
# Run alone, the suites whose tests reach the handlers and the logic they drive.
SELF_RECORDED = ("tests/integration", "tests/fault_injection")


def _record_here(directory: Path) -> None:
    env = dict(os.environ, **{ENV_DIR: str(directory)})
    workers = ["-n", "2"] if _has_xdist() else []
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *workers, *SELF_RECORDED],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1500,
    )
    if result.returncode != 0:
        pytest.fail(f"recording run of {SELF_RECORDED} failed:\n{result.stdout[-4000:]}")


def _has_xdist() -> bool:
    try:
        import xdist  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module")
def suite(tmp_path_factory: pytest.TempPathFactory) -> Recording:
    """Every call the suites recorded: this process's own, then those the suites' processes
    dumped in BATCHCRON_CALL_RECORDINGS. None of the required suites: record them now."""
    recording = Recording()
    recording.extend(recorder.RECORDING)
    directory = os.environ.get(ENV_DIR)
    if directory and Path(directory).is_dir():
        recording.extend(Recording.load(Path(directory)))
    if not recording.suites() >= REQUIRED_SUITES:
        if recording.calls and directory:
            pytest.fail(
                f"{directory} holds calls of {sorted(recording.suites())} only: the recordings "
                f"must cover {sorted(REQUIRED_SUITES)} (run `make pytest`)"
            )
        target = tmp_path_factory.mktemp("call-recordings")
        _record_here(target)
        recording.extend(Recording.load(target))
    assert recording.suites() >= REQUIRED_SUITES, recording.suites()
    return recording


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return transformed_template()


@pytest.fixture(scope="module")
def found(template: dict[str, Any], suite: Recording) -> list[Case]:
    return cases(template, suite)


def test_recordings_cover_every_function_and_both_suites(suite: Recording) -> None:
    by_function = {function: set() for function in FUNCTIONS}  # type: dict[str, set[str]]
    for call in suite:
        by_function.setdefault(call.function, set()).add(call.suite)
    for function, suites in by_function.items():
        assert suites, f"no call of {function} was recorded"
    assert suite.suites() >= REQUIRED_SUITES


def test_every_call_is_granted_and_every_grant_used_or_explained(found: list[Case]) -> None:
    report = check(found)

    assert report.problems == [], "\n".join(report.problems)


def test_the_check_sees_batch_conditions_and_resources(found: list[Case]) -> None:
    """The recordings reach the calls whose grants carry conditions or name resources."""
    seen = {(need.action, case.function) for case in found for need, _ in case.needs}
    assert ("batch:TagResource", "DispatchFunction") in seen
    assert ("batch:TagResource", "WebhookFunction") in seen
    assert ("batch:SubmitJob", "JobStateFunction") in seen
    assert ("secretsmanager:GetSecretValue", "WebhookFunction") in seen
    assert any("/index/" in need.resource for c in found for need, _ in c.needs)
    assert any(
        "aws:ResourceTag/batchcron:stack" in need.context for c in found for need, _ in c.needs
    )


def test_removing_any_statement_from_any_role_fails_the_check(found: list[Case]) -> None:
    every = origins(found)
    assert len(every) >= 3 * 7  # each role: 4 Batch, run store, secret, 2 managed, ...

    survivors = [grant for grant in every if not check(found, without=grant).problems]

    assert survivors == [], f"grants the check does not notice missing: {survivors}"
