"""A small router for Lambda Function URL events (payload format 2.0).

It replaces Powertools' `LambdaFunctionUrlResolver`, whose imports (event_handler, data
classes, asyncio) cost ~40 ms of every webhook cold start for three routes. Routes are
`(method, path)`; errors are mapped to responses once, by exception type (the most specific
registered class wins); anything unmatched is the `not_found` answer.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

_E = TypeVar("_E", bound=BaseException)


@dataclass(frozen=True)
class Request:
    """The parts of a Function URL event a route reads. Header names are lower case."""

    method: str
    path: str
    headers: dict[str, str]
    body: str | None
    is_base64_encoded: bool

    @classmethod
    def from_event(cls, event: dict[str, Any]) -> Request:
        http = (event.get("requestContext") or {}).get("http") or {}
        headers = {
            str(name).lower(): str(value) for name, value in (event.get("headers") or {}).items()
        }
        return cls(
            method=str(http.get("method") or "").upper(),
            path=str(event.get("rawPath") or http.get("path") or "/"),
            headers=headers,
            body=event.get("body"),
            is_base64_encoded=bool(event.get("isBase64Encoded")),
        )


@dataclass(frozen=True)
class Response:
    status: int
    body: dict[str, Any]

    def to_lambda(self) -> dict[str, Any]:
        """The Function URL response: JSON body, as the resolver answered before."""
        return {
            "statusCode": int(self.status),
            "body": json.dumps(self.body, separators=(",", ":")),
            "isBase64Encoded": False,
            "headers": {"Content-Type": "application/json"},
            "cookies": [],
        }


Route = Callable[[Request], Response]


class Router:
    def __init__(self, not_found: Callable[[Request], Response]) -> None:
        self._routes: dict[tuple[str, str], Route] = {}
        self._errors: dict[type[BaseException], Callable[[Any], Response]] = {}
        self._not_found = not_found

    def route(self, method: str, *paths: str) -> Callable[[Route], Route]:
        def register(fn: Route) -> Route:
            for path in paths:
                self._routes[(method.upper(), path)] = fn
            return fn

        return register

    def error(
        self, kind: type[_E]
    ) -> Callable[[Callable[[_E], Response]], Callable[[_E], Response]]:
        def register(fn: Callable[[_E], Response]) -> Callable[[_E], Response]:
            self._errors[kind] = fn
            return fn

        return register

    def resolve(self, event: dict[str, Any]) -> dict[str, Any]:
        """The response to one event; an exception with no mapping propagates (Lambda's 502)."""
        request = Request.from_event(event)
        route = self._routes.get((request.method, request.path))
        try:
            response = route(request) if route is not None else self._not_found(request)
        except Exception as exc:
            mapped = self._mapping(type(exc))
            if mapped is None:
                raise
            response = mapped(exc)
        return response.to_lambda()

    def _mapping(self, kind: type[BaseException]) -> Callable[[Any], Response] | None:
        for klass in kind.__mro__:
            if klass in self._errors:
                return self._errors[klass]
        return None
