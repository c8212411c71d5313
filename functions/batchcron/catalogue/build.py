"""`python -m batchcron.catalogue.build [jobs.yaml ...]`: validate each catalogue and write its
compiled copy (`compiled.py`); exit 1 with every error on an invalid one. Run by `make build`
and `make catalogue`."""

from __future__ import annotations

import sys
from pathlib import Path

from batchcron.catalogue.compiled import write_compiled
from batchcron.catalogue.errors import CatalogueError
from batchcron.catalogue.loading import parse_catalogue


def compile_catalogue(source: Path) -> Path:
    """Validate `source` and write its compiled copy (CatalogueError when it is invalid)."""
    data = source.read_bytes()
    catalogue = parse_catalogue(data.decode("utf-8"), source=source.name)
    return write_compiled(source, data, catalogue)


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
