"""The parameter overrides `make deploy` passes to `sam deploy`: the config environment's
`parameter_overrides` from samconfig.toml with the command line's KEY=VALUE pairs on top.

sam replaces (does not merge) samconfig's list when --parameter-overrides is given, so
`make deploy IMAGE_URI=...` needs the whole list. One KEY=VALUE per output line. Parameters
left out keep the stack's previous value (sam deploy sends UsePreviousValue for them).

    python3 tools/deploy_overrides.py samconfig.toml default ImageUri=123....:abc
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

# template.yaml's ImageUri default: no image pushed yet.
UNPUSHED = "unpushed"


class OverrideError(ValueError):
    """A samconfig environment or a KEY=VALUE pair that cannot be used."""


def _pair(item: str) -> tuple[str, str]:
    key, sep, value = item.partition("=")
    if not sep or not key.isalnum():
        raise OverrideError(f"expected KEY=VALUE, got {item!r}")
    return key, value


def overrides(samconfig: Path, environment: str, extra: list[str]) -> list[str]:
    with samconfig.open("rb") as handle:
        config = tomllib.load(handle)
    try:
        listed = config[environment]["deploy"]["parameters"].get("parameter_overrides", [])
    except KeyError:
        raise OverrideError(f"{samconfig} has no [{environment}.deploy.parameters]") from None
    if isinstance(listed, str):
        listed = listed.split()
    merged = dict(_pair(item) for item in listed)
    if merged.get("ImageUri") == UNPUSHED:
        # Written by `sam deploy --guided`: keep the image the stack has (its default on a new
        # stack) rather than undo a pushed one.
        del merged["ImageUri"]
    merged.update(_pair(item) for item in extra if item)
    return [f"{key}={value}" for key, value in merged.items()]


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(f"usage: {argv[0]} SAMCONFIG ENVIRONMENT [KEY=VALUE ...]", file=sys.stderr)
        return 64
    try:
        lines = overrides(Path(argv[1]), argv[2], argv[3:])
    except (OSError, OverrideError, tomllib.TOMLDecodeError) as exc:
        print(f"deploy overrides: {exc}", file=sys.stderr)
        return 1
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
