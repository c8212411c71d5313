"""The Function URL router: routes by (method, path), errors mapped once, JSON responses."""

from __future__ import annotations

import json
from typing import Any

import pytest

from batchcron.pushes.router import Request, Response, Router


class Refused(ValueError):
    pass


class RefusedHarder(Refused):
    pass


def event(method: str = "POST", path: str = "/github", **extra: Any) -> dict[str, Any]:
    return {
        "rawPath": path,
        "headers": {"X-GitHub-Event": "push", "content-type": "application/json"},
        "body": "{}",
        "isBase64Encoded": False,
        "requestContext": {"http": {"method": method, "path": path}},
        **extra,
    }


def router() -> Router:
    app = Router(not_found=lambda request: Response(404, {"error": "not found"}))

    @app.route("POST", "/github", "/")
    def github(request: Request) -> Response:
        if request.body == "refuse":
            raise Refused("no")
        if request.body == "harder":
            raise RefusedHarder("no!")
        if request.body == "crash":
            raise RuntimeError("boom")
        if request.body == "unmapped":
            raise KeyError("x")
        return Response(200, {"event": request.headers["x-github-event"]})

    @app.error(Refused)
    def refused(exc: Refused) -> Response:
        return Response(400, {"error": str(exc)})

    @app.error(RefusedHarder)
    def harder(exc: RefusedHarder) -> Response:
        return Response(409, {"error": str(exc)})

    @app.error(RuntimeError)
    def crashed(exc: RuntimeError) -> Response:
        return Response(500, {"error": "internal error"})

    return app


def answer(response: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    assert response["headers"] == {"Content-Type": "application/json"}
    assert response["isBase64Encoded"] is False
    return response["statusCode"], json.loads(response["body"])


@pytest.mark.parametrize("path", ["/github", "/"])
def test_post_routes_answer_json_with_lower_case_headers(path: str) -> None:
    assert answer(router().resolve(event(path=path))) == (200, {"event": "push"})


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/github"), ("PUT", "/"), ("POST", "/other"), ("GET", "/x")]
)
def test_anything_else_is_the_not_found_answer(method: str, path: str) -> None:
    assert answer(router().resolve(event(method, path))) == (404, {"error": "not found"})


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("refuse", (400, {"error": "no"})),
        ("harder", (409, {"error": "no!"})),  # the most specific mapping wins
        ("crash", (500, {"error": "internal error"})),
    ],
)
def test_errors_are_mapped_by_type(body: str, expected: tuple[int, dict[str, Any]]) -> None:
    assert answer(router().resolve(event(body=body))) == expected


def test_an_unmapped_error_propagates() -> None:
    with pytest.raises(KeyError):
        router().resolve(event(body="unmapped"))


def test_a_request_without_context_or_headers_is_not_found_not_a_crash() -> None:
    assert answer(router().resolve({})) == (404, {"error": "not found"})


def test_the_request_carries_base64_flag_and_the_body() -> None:
    request = Request.from_event(event(body="aGk=", isBase64Encoded=True))
    assert (request.method, request.path, request.body) == ("POST", "/github", "aGk=")
    assert request.is_base64_encoded
