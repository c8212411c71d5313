"""The catalogue compiled at build time: `jobs.yaml` validated once, written as JSON next to it.

`make build` runs `python -m batchcron.catalogue.build functions/jobs.yaml` (`build.py`), which
fails the build on a catalogue error and otherwise writes `jobs.compiled.json` recording the
sha256 of the YAML it came from. `load_catalogue` uses the compiled copy only while that hash
matches the YAML beside it (so an edited `jobs.yaml` is never shadowed by an old build) and
otherwise parses the YAML as before; a cold start with a fresh copy reads no YAML.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from batchcron.catalogue.model import Catalogue, Job
from batchcron.catalogue.prices import PriceSettings
from batchcron.records import RecordError

FORMAT = 2  # bump when the compiled layout or the Job record changes incompatibly


def compiled_path(source: Path) -> Path:
    """`jobs.yaml` -> `jobs.compiled.json` in the same folder."""
    return source.with_name(f"{source.stem}.compiled.json")


def write_compiled(source: Path, data: bytes, catalogue: Catalogue) -> Path:
    """Write `catalogue` (validated from `data`, the bytes of `source`) as its compiled copy."""
    document = {
        "format": FORMAT,
        "sha256": hashlib.sha256(data).hexdigest(),
        "source": catalogue.source,
        "jobs": {name: job.model_dump(mode="json") for name, job in catalogue.jobs.items()},
        "prices": catalogue.prices.model_dump(mode="json"),
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
        prices = PriceSettings.model_validate(document.get("prices") or {})
        return Catalogue(jobs=jobs, source=str(document["source"]), prices=prices)
    except (KeyError, AttributeError, TypeError, RecordError):
        return None  # a damaged copy: the YAML is the truth
