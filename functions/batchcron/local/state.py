"""The local-mode state file: how `batchcron` commands find a running `batchcron local`.

`batchcron local` writes it on start-up and removes it on shutdown. It lives at
`$BATCHCRON_LOCAL_STATE`, else `<temp dir>/batchcron-local-<uid>.json`, and holds the embedded
AWS endpoint, the webhook URL and secret, and the functions' environment. A file whose process is
gone is ignored.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path


def state_path() -> Path:
    explicit = os.environ.get("BATCHCRON_LOCAL_STATE")
    if explicit:
        return Path(explicit)
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return Path(tempfile.gettempdir()) / f"batchcron-local-{uid}.json"


@dataclass(frozen=True)
class LocalState:
    pid: int
    endpoint_url: str
    region: str
    webhook_url: str
    webhook_secret: str
    environment: dict[str, str] = field(default_factory=dict)

    def write(self, path: Path | None = None) -> Path:
        target = path or state_path()
        temporary = target.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(self), indent=2), encoding="utf-8")
        temporary.replace(target)
        return target


def read_state(path: Path | None = None) -> LocalState | None:
    """The running local mode's state, or None (no file, unreadable, or its process is gone)."""
    source = path or state_path()
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
        state = LocalState(**data)
    except (OSError, ValueError, TypeError):
        return None
    return state if _alive(state.pid) else None


def remove_state(pid: int, path: Path | None = None) -> None:
    """Remove the state file if it is ours (a second local mode may have replaced it)."""
    source = path or state_path()
    try:
        data = json.loads(source.read_text(encoding="utf-8"))
        if data.get("pid") == pid:
            source.unlink()
    except (OSError, ValueError):
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
