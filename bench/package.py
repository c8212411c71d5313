"""Figure 6, package size: the Lambda bundle as `sam build` makes it — the CodeUri `functions/`
plus `functions/requirements.txt` installed for python3.12 on arm64 — unzipped and zipped,
against Lambda's limits (250 MB unzipped; 50 MB zipped for a direct upload)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import zipfile
from collections import Counter
from pathlib import Path
from typing import Any

from bench.common import PYTHON, ROOT, MotoServer, Row, command

UNZIPPED_LIMIT = 250 * 1000 * 1000
ZIPPED_LIMIT = 50 * 1000 * 1000
PIP = [
    "--target",
    "{target}",
    "--platform",
    "manylinux2014_aarch64",
    "--only-binary=:all:",
    "--python-version",
    "3.12",
    "-r",
    str(ROOT / "functions" / "requirements.txt"),
]


def _size(path: Path) -> int:
    return sum(item.stat().st_size for item in path.rglob("*") if item.is_file())


def run(moto: MotoServer) -> tuple[list[Row], dict[str, Any]]:
    with tempfile.TemporaryDirectory(prefix="bench-package-") as tmp:
        bundle = Path(tmp) / "bundle"
        args = [arg.replace("{target}", str(bundle)) for arg in PIP]
        installed = subprocess.run(
            [PYTHON, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *args],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if installed.returncode != 0:
            reason = (installed.stderr.strip().splitlines() or ["pip failed"])[-1]
            row = Row("Package size", "not measured", "", "", "", f"pip failed: {reason}")
            return [row], {"error": installed.stderr[-2000:]}
        dependencies = _size(bundle)
        by_package: Counter[str] = Counter()
        for item in bundle.iterdir():
            name = item.name.split("-")[0] if item.name.endswith(".dist-info") else item.name
            by_package[name] += _size(item) if item.is_dir() else item.stat().st_size
        shutil.copytree(
            ROOT / "functions",
            bundle,
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"),
        )
        unzipped = _size(bundle)
        archive = Path(tmp) / "bundle.zip"
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zipped:
            for item in sorted(bundle.rglob("*")):
                if item.is_file():
                    zipped.write(item, item.relative_to(bundle))
        zipped_size = archive.stat().st_size
    largest = ", ".join(f"{name} {size / 1e6:.1f} MB" for name, size in by_package.most_common(4))
    how = (
        f"{command('package')}; `pip install --target <tmp> --platform manylinux2014_aarch64 "
        "--only-binary=:all: --python-version 3.12 -r functions/requirements.txt` + functions/ "
        "(boto3 and botocore included: the X-Ray SDK of the tracer extra needs botocore)"
    )
    raw = {
        "unzipped": unzipped,
        "zipped": zipped_size,
        "dependencies": dependencies,
        "by_package": dict(by_package.most_common()),
    }
    rows = [
        Row(
            "Package: Lambda bundle, unzipped",
            f"{unzipped / 1e6:.1f} MB (dependencies {dependencies / 1e6:.1f} MB: {largest})",
            "Lambda limit 250 MB",
            f"{unzipped / UNZIPPED_LIMIT:.3f}",
            "",
            how,
        ),
        Row(
            "Package: Lambda bundle, zipped",
            f"{zipped_size / 1e6:.1f} MB",
            "Lambda limit 50 MB (direct upload)",
            f"{zipped_size / ZIPPED_LIMIT:.3f}",
            "",
            how + "; zip -6 (deflate)",
        ),
    ]
    return rows, raw
