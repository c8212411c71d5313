"""The secrets adapter: cached reads, forced re-reads, clear errors that never hold a value."""

from __future__ import annotations

from typing import Any

import pytest

from batchcron.adapters import secrets


class _Client:
    def __init__(self, answers: list[Any]) -> None:
        self.answers = answers
        self.calls: list[str] = []

    def get_secret_value(self, SecretId: str) -> dict[str, Any]:
        self.calls.append(SecretId)
        answer = self.answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer


@pytest.fixture
def client(monkeypatch: pytest.MonkeyPatch) -> _Client:
    fake = _Client([])
    monkeypatch.setattr("batchcron.adapters.aws.secretsmanager", lambda: fake)
    return fake


def test_a_read_is_cached_until_max_age_or_force(client: _Client) -> None:
    client.answers = [{"SecretString": "one"}, {"SecretString": "two"}, {"SecretString": "three"}]
    assert secrets.get_secret("arn:s") == "one"
    assert secrets.get_secret("arn:s") == "one"
    assert secrets.get_secret("arn:s", force=True) == "two"
    assert secrets.get_secret("arn:s", max_age=0) == "three"
    assert client.calls == ["arn:s"] * 3


def test_binary_secrets_are_decoded(client: _Client) -> None:
    client.answers = [{"SecretBinary": b"bytes"}]
    assert secrets.get_secret("arn:b") == "bytes"


def test_an_unreadable_secret_names_it_and_never_its_value(client: _Client) -> None:
    from botocore.exceptions import ClientError

    error = ClientError({"Error": {"Code": "AccessDeniedException", "Message": "x"}}, "Get")
    client.answers = [error]
    with pytest.raises(secrets.SecretUnavailableError, match="arn:denied: ClientError"):
        secrets.get_secret("arn:denied")


def test_forced_refreshes_are_rate_limited_per_secret() -> None:
    assert secrets.refresh_allowed("a", now=100.0)
    assert not secrets.refresh_allowed("a", now=130.0)
    assert secrets.refresh_allowed("b", now=130.0)
    assert secrets.refresh_allowed("a", now=161.0)
