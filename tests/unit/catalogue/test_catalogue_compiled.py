"""The compiled catalogue: used only while it was made from exactly the YAML beside it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from batchcron.catalogue import loading as catalogue_module
from batchcron.catalogue.build import compile_catalogue, main
from batchcron.catalogue.compiled import compiled_path
from batchcron.catalogue.errors import CatalogueError
from batchcron.catalogue.loading import DEFAULT_JOBS_FILE, load_catalogue, parse_catalogue

YAML = """\
defaults:
  timezone: Europe/London
jobs:
  parish:
    repository: digital-land/parish-collection
    schedule: "@daily"
    environment: {REBUILD: true}
    on_push: {branches: [main], paths: [src/**]}
  other:
    repository: digital-land/other
    after: {jobs: [parish]}
"""


@pytest.fixture
def jobs(tmp_path: Path) -> Path:
    source = tmp_path / "jobs.yaml"
    source.write_text(YAML, encoding="utf-8")
    catalogue_module._cache.clear()
    return source


def load(source: Path) -> object:
    catalogue_module._cache.clear()
    return load_catalogue(source)


def mark_compiled_copy(source: Path) -> None:
    """Change the compiled copy only, so a load shows which one it read."""
    target = compiled_path(source)
    document = json.loads(target.read_text(encoding="utf-8"))
    document["jobs"]["parish"]["schedule"] = "5 4 * * *"
    target.write_text(json.dumps(document), encoding="utf-8")


def test_the_compiled_copy_is_the_same_catalogue(jobs: Path) -> None:
    target = compile_catalogue(jobs)

    assert target == jobs.parent / "jobs.compiled.json"
    assert load(jobs) == parse_catalogue(YAML)
    assert list(load(jobs).jobs) == ["parish", "other"]  # type: ignore[attr-defined]


def test_a_fresh_compiled_copy_is_used(jobs: Path) -> None:
    compile_catalogue(jobs)
    mark_compiled_copy(jobs)

    assert load(jobs).get("parish").schedule == "5 4 * * *"  # type: ignore[attr-defined]


def test_a_stale_compiled_copy_is_ignored(jobs: Path) -> None:
    compile_catalogue(jobs)
    mark_compiled_copy(jobs)
    jobs.write_text(YAML.replace('"@daily"', '"@hourly"'), encoding="utf-8")

    assert load(jobs).get("parish").schedule == "0 * * * *"  # type: ignore[attr-defined]


@pytest.mark.parametrize("damage", ["{not json", '{"format": 1}', "[]", '{"format": 999}'])
def test_a_damaged_compiled_copy_falls_back_to_the_yaml(jobs: Path, damage: str) -> None:
    compiled_path(jobs).write_text(damage, encoding="utf-8")

    assert load(jobs) == parse_catalogue(YAML)


def test_a_compiled_copy_with_a_bad_job_falls_back_to_the_yaml(jobs: Path) -> None:
    compile_catalogue(jobs)
    target = compiled_path(jobs)
    document = json.loads(target.read_text(encoding="utf-8"))
    document["jobs"]["parish"]["attempts"] = "many"
    target.write_text(json.dumps(document), encoding="utf-8")

    assert load(jobs) == parse_catalogue(YAML)


def test_an_invalid_catalogue_fails_the_build_and_writes_nothing(
    jobs: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jobs.write_text("jobs:\n  x1:\n    repository: nope\n", encoding="utf-8")

    with pytest.raises(CatalogueError):
        compile_catalogue(jobs)
    assert main([str(jobs)]) == 1
    assert "field 'repository'" in capsys.readouterr().err
    assert not compiled_path(jobs).exists()


def test_a_fresh_compiled_catalogue_loads_without_yaml(jobs: Path) -> None:
    assert main([str(jobs)]) == 0
    code = (
        "import sys; from batchcron.catalogue.loading import load_catalogue; "
        f"catalogue = load_catalogue({str(jobs)!r}); "
        "assert 'yaml' not in sys.modules, 'yaml imported'; print(sorted(catalogue.jobs))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['other', 'parish']"


def test_the_packaged_catalogue_compiles_to_the_same_jobs_in_the_same_order(
    tmp_path: Path,
) -> None:
    copy = tmp_path / "jobs.yaml"
    copy.write_bytes(DEFAULT_JOBS_FILE.read_bytes())
    compile_catalogue(copy)
    loaded = load(copy)
    parsed = parse_catalogue(copy.read_text(encoding="utf-8"))

    assert loaded == parsed
    assert list(loaded.jobs) == list(parsed.jobs)  # type: ignore[attr-defined]
