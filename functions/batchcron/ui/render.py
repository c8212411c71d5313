"""Templates (Jinja2, autoescaped) and static files, both shipped as package data."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

STATIC_TYPES = {
    "ui.css": "text/css; charset=utf-8",
    "ui.js": "text/javascript; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}


@cache
def environment() -> Any:
    import jinja2

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("batchcron.ui", "templates"),
        autoescape=True,  # every template, whatever its name
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.globals["asset"] = asset
    return env


def render(template: str, **context: Any) -> str:
    return str(environment().get_template(template).render(**context))


@cache
def static(name: str) -> bytes | None:
    """A static file's bytes (only the ones listed; never a path from the request)."""
    if name not in STATIC_TYPES:
        return None
    return resources.files("batchcron.ui").joinpath("static", name).read_bytes()


@cache
def digest(name: str) -> str:
    """A short digest of a static file's bytes: its URL's version ("" for no such file)."""
    import hashlib

    data = static(name)
    return hashlib.sha256(data).hexdigest()[:12] if data is not None else ""


def asset(name: str) -> str:
    """A static file's URL with its digest (`/static/ui.css?v=…`): a browser may keep it for
    good, as a change to the file is a new URL."""
    return f"/static/{name}?v={digest(name)}"
