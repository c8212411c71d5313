"""Print the region the active AWS profile sets (AWS_PROFILE, else default), or nothing.

Stdlib only, so the Makefile can ask before any virtualenv exists. Reads the shared config
file the way the AWS CLI and SDKs do: AWS_CONFIG_FILE or ~/.aws/config, section [default] or
[profile NAME].
"""

from __future__ import annotations

import configparser
import os
from pathlib import Path


def profile_region(environ: dict[str, str] | None = None) -> str:
    env = dict(os.environ if environ is None else environ)
    path = Path(env.get("AWS_CONFIG_FILE") or Path.home() / ".aws" / "config").expanduser()
    profile = env.get("AWS_PROFILE") or env.get("AWS_DEFAULT_PROFILE") or "default"
    config = configparser.RawConfigParser()
    try:
        config.read(path, encoding="utf-8")
    except (configparser.Error, UnicodeDecodeError):
        return ""
    for section in (f"profile {profile}", profile) if profile != "default" else ("default",):
        if config.has_option(section, "region"):
            return config.get(section, "region").strip()
    return ""


if __name__ == "__main__":
    print(profile_region())
