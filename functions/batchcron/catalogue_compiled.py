"""The catalogue compiled at build time: `jobs.yaml` validated once, written as JSON next to it.

`make build` runs `python -m batchcron.catalogue_compiled functions/jobs.yaml`, which fails the
build on a catalogue error and otherwise writes `jobs.compiled.json` recording the sha256 of the
YAML it came from. `load_catalogue` uses the compiled copy only while that hash matches the YAML
beside it (so an edited `jobs.yaml` is never shadowed by an old build) and otherwise parses the
YAML as before; a cold start with a fresh copy reads no YAML.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from pathlib import Path
from typing import Any

from batchcron.catalogue import Catalogue, CatalogueError, Job, parse_catalogue
from batchcron.records import RecordError

FORMAT = 1  # bump when the compiled layout or the Job record changes incompatibly


def compiled_path(source: Path) -> Path:
    """`jobs.yaml` -> `jobs.compiled.json` in the same folder."""
    return source.with_name(f"{source.stem}.compiled.json")


def compile_catalogue(source: Path) -> Path:
    """Validate `source` and write its compiled copy (CatalogueError when it is invalid)."""
    data = source.read_bytes()
    catalogue = parse_catalogue(data.decode("utf-8"), source=source.name)
    document = {
        "format": FORMAT,
        "sha256": hashlib.sha256(data).hexdigest(),
        "source": catalogue.source,
        "jobs": {name: job.model_dump(mode="json") for name, job in catalogue.jobs.items()},
    }
    target = compiled_path(source)
    partial = target.with_name(f".{target.name}.tmp")
    partial.write_text(json.dumps(document, indent=1) + "\n", encoding="utf-8")
    os.replace(partial, target)
    return target


def load_fresh(source: Path, data: bytes) -> Catalogue | None:
    """The compiled catalogue made from exactly `data` (the bytes of `source`), else None."""
    try:
        document: Any = json.loads(compiled_path(source).read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        return None
    if document.get("sha256") != hashlib.sha256(data).hexdigest():
        return None
    try:
        jobs = {str(name): Job.model_validate(fields) for name, fields in document["jobs"].items()}
        return Catalogue(jobs=jobs, source=str(document["source"]))
    except (KeyError, AttributeError, TypeError, RecordError):
        return None  # a damaged copy: the YAML is the truth


def main(argv: list[str]) -> int:
    sources = [Path(arg) for arg in argv] or [Path("functions/jobs.yaml")]
    for source in sources:
        try:
            target = compile_catalogue(source)
        except CatalogueError as exc:
            print(exc, file=sys.stderr)
            return 1
        print(f"compiled {source} -> {target}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
