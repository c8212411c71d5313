"""Local-mode state files: how `batchcron` commands find a running `batchcron local`.

Each `batchcron local` writes its own file on start-up, named by its embedded AWS port, and
removes it on shutdown, so two local modes never overwrite each other. The files live in
`$BATCHCRON_LOCAL_STATE_DIR`, else `<temp dir>/batchcron-local-<uid>/`, and hold the embedded
AWS endpoint, the webhook URL and secret, the functions' environment, and how far local mode's
clock runs from real time (`--now`). A file whose process is gone is ignored.

The same state is also kept in the embedded AWS itself (a secret named `STATE_SECRET`), so an
endpoint URL alone is enough to find everything else.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

STATE_SECRET = "batchcron-local/State"


def state_dir() -> Path:
    explicit = os.environ.get("BATCHCRON_LOCAL_STATE_DIR")
    if explicit:
        return Path(explicit)
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"batchcron-local-{uid}"


def state_path(port: int) -> Path:
    return state_dir() / f"batchcron-local-{port}.json"


@dataclass(frozen=True)
class LocalState:
    pid: int
    endpoint_url: str
    region: str
    webhook_url: str
    webhook_secret: str
    environment: dict[str, str] = field(default_factory=dict)
    # Local mode's clock minus real time (`batchcron local --now`): the CLI runs its clock so too.
    clock_offset_seconds: float = 0.0

    @property
    def port(self) -> int:
        return endpoint_port(self.endpoint_url)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    def write(self, path: Path | None = None) -> Path:
        target = path or state_path(self.port)
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_suffix(".tmp")
        temporary.write_text(self.to_json(), encoding="utf-8")
        temporary.replace(target)
        return target


def parse_state(text: str) -> LocalState | None:
    try:
        data: Any = json.loads(text)
        return LocalState(**data)
    except (ValueError, TypeError):
        return None


def running_states() -> list[LocalState]:
    """Every running local mode's state, by port (files of gone processes are skipped)."""
    found: list[LocalState] = []
    try:
        files = sorted(state_dir().glob("batchcron-local-*.json"))
    except OSError:
        return []
    for path in files:
        try:
            state = parse_state(path.read_text(encoding="utf-8"))
        except OSError:
            continue
        if state is not None and _alive(state.pid):
            found.append(state)
    return sorted(found, key=lambda state: state.port)


def remove_state(state: LocalState, path: Path | None = None) -> None:
    """Remove this instance's file (only if it is still ours)."""
    source = path or state_path(state.port)
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
        if data.get("pid") == state.pid:
            source.unlink()
    except (OSError, ValueError):
        pass


def endpoint_port(url: str) -> int:
    parts = urlsplit(url if "://" in url else f"http://{url}")
    try:
        port = parts.port
    except ValueError:
        port = None
    return port or (443 if parts.scheme == "https" else 80)


def same_endpoint(a: str, b: str) -> bool:
    def norm(url: str) -> str:
        return url.rstrip("/").replace("://localhost", "://127.0.0.1")

    return norm(a) == norm(b)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
