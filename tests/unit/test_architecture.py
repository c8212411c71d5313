"""The layout (docs/architecture.md) is kept by import-linter's contracts (pyproject.toml,
`make lint`): they hold on the tree, and a wrong-way import, a face reaching into another or a
new import circle breaks them, naming the modules."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "functions" / "batchcron"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
FOLDERS = {
    "adapters",
    "catalogue",
    "cli",
    "handlers",
    "local",
    "outcomes",
    "pushes",
    "scheduling",
    "store",
    "ui",
}
MODULES = {"records.py", "models.py", "settings.py", "observability.py", "wiring.py"}


def lint_imports(functions: Path, config: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(functions)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", str(config)],
        capture_output=True,
        text=True,
        env=env,
        cwd=functions.parent,
    )


def test_the_contracts_hold() -> None:
    result = lint_imports(ROOT / "functions", ROOT / "pyproject.toml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract", "named"),
    [
        # the run store reaching up into the submit path: a wrong-way import
        (
            "store/runs.py",
            "from batchcron.scheduling.submit import Submitter",
            "Imports go one way",
            ("batchcron.store.runs", "batchcron.scheduling.submit"),
        ),
        # an adapter that knows the catalogue
        (
            "adapters/batch.py",
            "from batchcron.catalogue.model import Job",
            "Imports go one way",
            ("batchcron.adapters.batch", "batchcron.catalogue.model"),
        ),
        # the status page reaching into local mode
        (
            "ui/app.py",
            "from batchcron.local.http import webhook_server",
            "The faces reach into each other",
            ("batchcron.ui.app", "batchcron.local.http"),
        ),
        # a circle inside a folder: the catalogue's errors importing its loader
        (
            "catalogue/errors.py",
            "from batchcron.catalogue.loading import load_catalogue",
            "No import circles",
            ("batchcron.catalogue", ".errors -> .loading"),
        ),
    ],
)
def test_a_wrong_import_breaks_a_contract_naming_both_modules(
    tmp_path: Path, module: str, line: str, contract: str, named: tuple[str, str]
) -> None:
    # Given a copy of the package with one wrong import added
    functions = tmp_path / "functions"
    shutil.copytree(PACKAGE, functions / "batchcron", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    target = functions / "batchcron" / module
    source = target.read_text(encoding="utf-8")
    target.write_text(
        source.replace(
            "\nfrom __future__ import annotations\n",
            f"\nfrom __future__ import annotations\n\n{line}  # noqa\n",
            1,
        ),
        encoding="utf-8",
    )
    assert line in target.read_text(encoding="utf-8")
    # When import-linter checks it
    result = lint_imports(functions, tmp_path / "pyproject.toml")
    # Then the contract breaks and the report names the importer and the imported module
    report = result.stdout + result.stderr
    assert result.returncode == 1, report
    broken = report.split("Broken contracts", 1)[-1]
    assert f"{contract}" in broken, report
    for name in named:
        assert name in broken, report


def test_the_package_holds_only_its_folders_and_five_modules() -> None:
    entries = {p.name for p in PACKAGE.iterdir() if p.name != "__pycache__"}
    assert entries == FOLDERS | MODULES | {"__init__.py", "py.typed"}


@pytest.mark.parametrize("folder", sorted(FOLDERS))
def test_each_folder_says_what_it_holds_and_what_it_may_import(folder: str) -> None:
    tree = ast.parse((PACKAGE / folder / "__init__.py").read_text(encoding="utf-8"))
    docstring = ast.get_docstring(tree) or ""
    assert "May import" in docstring, folder
    # no logic: the docstring, imports that keep public names, and __all__
    for node in tree.body[1:]:
        assert isinstance(node, ast.ImportFrom | ast.Import) or (
            isinstance(node, ast.Assign) and [t.id for t in node.targets] == ["__all__"]  # type: ignore[attr-defined]
        ), (folder, ast.dump(node)[:80])
