"""The last good catalogue: what the read commands answer from while the file has an error.

Each successful load keeps a copy (JSON, as `compiled.py` writes it) in the user's cache folder
(`XDG_CACHE_HOME` or `~/.cache`, then `batchcron/`), one per catalogue path; a load that fails
returns that copy with the error, so `jobs`, `status` and `runs` still answer and say why.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Any

from batchcron.catalogue.errors import CatalogueError
from batchcron.catalogue.model import Catalogue, Job
from batchcron.records import RecordError


def cache_path(file: Path) -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "batchcron"
    key = hashlib.sha256(str(file.resolve()).encode()).hexdigest()[:16]
    return base / f"last-good-{key}.json"


def load_or_last_good(path: Path | str | None = None) -> tuple[Catalogue, CatalogueError | None]:
    """The catalogue and None; or, while it has an error, the last good copy (no jobs when
    there is none) and the error."""
    from batchcron.catalogue.loading import jobs_file, load_catalogue

    file = Path(path) if path is not None else jobs_file()
    try:
        catalogue = load_catalogue(file)
    except CatalogueError as exc:
        return _read(cache_path(file)) or Catalogue(jobs={}), exc
    with contextlib.suppress(OSError):  # a read-only home: the copy is a convenience only
        _keep(cache_path(file), catalogue)
    return catalogue, None


def _keep(target: Path, catalogue: Catalogue) -> None:
    document = {
        "source": catalogue.source,
        "jobs": {name: job.model_dump(mode="json") for name, job in catalogue.jobs.items()},
    }
    text = json.dumps(document, indent=1, sort_keys=True) + "\n"
    digest = hashlib.sha256(text.encode()).hexdigest()
    try:
        if hashlib.sha256(target.read_bytes()).hexdigest() == digest:
            return
    except OSError:
        pass
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, target)


def _read(target: Path) -> Catalogue | None:
    try:
        document: Any = json.loads(target.read_bytes())
        jobs = {str(name): Job.model_validate(fields) for name, fields in document["jobs"].items()}
        return Catalogue(jobs=jobs, source=str(document["source"]))
    except (OSError, ValueError, KeyError, AttributeError, TypeError, RecordError):
        return None
