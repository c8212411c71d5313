"""The deploy helpers the Makefile runs: samconfig overrides and the AWS profile's region."""

from __future__ import annotations

from pathlib import Path

import pytest

from tools.deploy_overrides import OverrideError, overrides
from tools.profile_region import profile_region

ROOT = Path(__file__).resolve().parents[2]

SAMCONFIG = """
version = 0.1
[default.deploy.parameters]
parameter_overrides = ["Stage=dev", "SchedulesEnabled=false", "Subnets=subnet-a,subnet-b"]
[guided.deploy.parameters]
parameter_overrides = "Stage=dev ImageUri=unpushed SchedulesEnabled=false"
"""


@pytest.fixture
def samconfig(tmp_path: Path) -> Path:
    path = tmp_path / "samconfig.toml"
    path.write_text(SAMCONFIG, encoding="utf-8")
    return path


def test_command_line_pairs_go_on_top_of_samconfigs(samconfig: Path) -> None:
    # sam replaces samconfig's list when --parameter-overrides is given: all of it is passed
    assert overrides(samconfig, "default", ["SchedulesEnabled=true", "ImageUri=1.dkr/x:abc"]) == [
        "Stage=dev",
        "SchedulesEnabled=true",
        "Subnets=subnet-a,subnet-b",
        "ImageUri=1.dkr/x:abc",
    ]


def test_an_unpushed_image_from_a_guided_deploy_keeps_the_stacks_image(samconfig: Path) -> None:
    assert overrides(samconfig, "guided", []) == ["Stage=dev", "SchedulesEnabled=false"]
    assert overrides(samconfig, "guided", ["ImageUri=1.dkr/x:abc"])[-1] == "ImageUri=1.dkr/x:abc"


@pytest.mark.parametrize("pair", ["ImageUri", "=x", "Image-Uri=x"])
def test_a_malformed_pair_is_refused(samconfig: Path, pair: str) -> None:
    with pytest.raises(OverrideError, match="KEY=VALUE"):
        overrides(samconfig, "default", [pair])


def test_an_unknown_environment_is_named(samconfig: Path) -> None:
    with pytest.raises(OverrideError, match=r"\[staging\.deploy\.parameters\]"):
        overrides(samconfig, "staging", [])


def test_the_committed_samconfig_sets_no_image(tmp_path: Path) -> None:
    # The first deploy creates the repository; the image comes from `make push-image`.
    for environment in ("default", "prod"):
        assert not any(
            item.startswith("ImageUri=")
            for item in overrides(ROOT / "samconfig.toml", environment, [])
        )


CONFIG = """
[default]
region = eu-west-1
[profile ops]
region = us-east-1
[profile bare]
output = json
"""


@pytest.mark.parametrize(
    ("profile", "region"), [(None, "eu-west-1"), ("ops", "us-east-1"), ("bare", "")]
)
def test_profile_region(tmp_path: Path, profile: str | None, region: str) -> None:
    config = tmp_path / "config"
    config.write_text(CONFIG, encoding="utf-8")
    env = {"AWS_CONFIG_FILE": str(config), **({"AWS_PROFILE": profile} if profile else {})}
    assert profile_region(env) == region


def test_no_config_file_means_no_region(tmp_path: Path) -> None:
    assert profile_region({"AWS_CONFIG_FILE": str(tmp_path / "missing")}) == ""
