"""One botocore data loader per test process, so each AWS service model is read once.

Every `aws_env` makes a new boto3 session (moto's, the functions' and the test's own), and each
session's loader parses the service models it needs afresh: about 0.5 s of JSON per test, most of
the unit suite's time. The models are the installed botocore's, the same for every session, and a
loader already hands one parsed copy to every client of its session; this shares the loader
across sessions too. Tests only: a Lambda process has one session, so it would gain nothing.
"""

from __future__ import annotations

import botocore.loaders
import botocore.session


class _SearchPaths(list[str]):
    """boto3 appends its own data path to the loader of every session it makes: once is enough."""

    def append(self, path: str) -> None:
        if path not in self:
            super().append(path)


_LOADERS: dict[str | None, botocore.loaders.Loader] = {}
_create_fresh = botocore.loaders.create_loader


def _create_loader(search_path_string: str | None = None) -> botocore.loaders.Loader:
    """botocore's create_loader, memoised on its argument (AWS_DATA_PATH): one loader each."""
    if search_path_string not in _LOADERS:
        loader = _create_fresh(search_path_string)
        loader._search_paths = _SearchPaths(loader.search_paths)
        _LOADERS[search_path_string] = loader
    return _LOADERS[search_path_string]


def install() -> None:
    """From now on every new botocore session in this process shares the loader."""
    botocore.session.create_loader = _create_loader
