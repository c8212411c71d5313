"""WebhookFunction: GitHub deliveries over a Lambda Function URL (`POST /github`, `POST /`),
and Slack's button presses on alerts (`POST /slack/actions`, Slack app mode).

The signature is verified over the raw body before anything is parsed. Never logged: the
secret, the signature, the body or the event.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from http import HTTPStatus
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.logging import correlation_paths
from aws_lambda_powertools.utilities.typing import LambdaContext

from batchcron.adapters.secrets import SecretUnavailableError
from batchcron.observability import count, logger, metrics, traced
from batchcron.pushes.payload import parse_body
from batchcron.pushes.router import Request, Response, Router
from batchcron.pushes.signature import (
    BadPayloadError,
    DeliveryInProgressError,
    PayloadTooLargeError,
    SignatureError,
    header_id,
    parse_signature,
    raw_body,
    verify,
)

if TYPE_CHECKING:
    from batchcron.pushes.webhook import Services


def _not_found(request: Request) -> Response:
    count("WebhookRejected")
    return _json(HTTPStatus.NOT_FOUND, {"error": "not found; GitHub deliveries are POST /github"})


app = Router(not_found=_not_found)
_context: dict[str, Any] = {}  # this invocation's Lambda context


@app.route("POST", "/github", "/")
def github(request: Request) -> Response:
    from batchcron.pushes.webhook import Delivery, handle

    headers = request.headers  # names in lower case
    # No usable signature header: 401 whatever the body (oversized, bad base64) is.
    parse_signature(headers.get("x-hub-signature-256"))
    body = raw_body(request.body, request.is_base64_encoded)
    verify(_secrets(), body, headers.get("x-hub-signature-256"))

    event = headers.get("x-github-event") or ""
    if not event.replace("_", "").isalpha() or len(event) > 64:
        raise BadPayloadError("missing or malformed X-GitHub-Event header")
    delivery = Delivery(
        event=event,
        delivery_id=header_id(
            headers.get("x-github-delivery"), "X-GitHub-Delivery", required=False
        ),
        hook_id=header_id(headers.get("x-github-hook-id"), "X-GitHub-Hook-ID", required=False),
        body_sha256=hashlib.sha256(body).hexdigest(),
    )
    logger.append_keys(
        github_event=delivery.event, delivery=delivery.delivery_id, hook_id=delivery.hook_id
    )
    payload = parse_body(body, headers.get("content-type"))
    reply = handle(delivery, payload, _services, time_left=_time_left)
    count("WebhookDeliveries")
    logger.info("delivery answered", status=reply.status, jobs=reply.body.get("jobs"))
    return _json(reply.status, reply.body)


@app.route("POST", "/slack/actions")
def slack_actions(request: Request) -> Response:
    """A Slack button press: verified with the signing secret, then acted on once. Slack wants
    an answer within 3 s: the action is quick, and the message is updated via response_url."""
    from batchcron.adapters.secrets import PLACEHOLDER, get_secret
    from batchcron.adapters.slack_app import signature_valid
    from batchcron.models import utcnow
    from batchcron.pushes.buttons import handle
    from batchcron.pushes.interaction import parse
    from batchcron.settings import settings

    body = raw_body(request.body, request.is_base64_encoded)
    arn = settings().slack_signing_secret_arn
    secret = get_secret(arn).strip() if arn else ""
    if secret in ("", PLACEHOLDER) or not signature_valid(
        secret,
        body,
        request.headers.get("x-slack-request-timestamp"),
        request.headers.get("x-slack-signature"),
        now=utcnow().timestamp(),
    ):
        raise SignatureError("Slack signature missing, stale or wrong")
    from batchcron.wiring import slack_buttons

    result = handle(parse(body), slack_buttons())
    count("SlackInteractions")
    return _json(HTTPStatus.OK, {"ok": True, "result": result})


def _secrets() -> Iterator[str]:
    """The webhook secret, then (only if that fails, and at most once a minute) a fresh read in
    case it was rotated. The template's placeholder never counts as a secret."""
    from batchcron.adapters.secrets import PLACEHOLDER, get_secret, refresh_allowed
    from batchcron.settings import settings

    arn = settings().require("github_webhook_secret_arn")
    cached = get_secret(arn)
    if cached != PLACEHOLDER:
        yield cached
    if refresh_allowed(arn):
        fresh = get_secret(arn, force=True)
        if fresh not in (cached, PLACEHOLDER):
            logger.info("webhook secret changed; using the new value")
            yield fresh


def _services() -> Services:
    from batchcron.catalogue.loading import load_catalogue
    from batchcron.pushes.payload import github_hosts
    from batchcron.pushes.webhook import Services
    from batchcron.settings import settings
    from batchcron.wiring import submitter

    return Services(
        catalogue=load_catalogue(),
        submitter=submitter(patient=False),
        github_hosts=github_hosts(settings().github_hosts),
    )


def _time_left() -> float:
    return float(_context["lambda"].get_remaining_time_in_millis()) / 1000


def _json(status: int, body: dict[str, Any]) -> Response:
    return Response(status, body)


# --- errors, mapped once -----------------------------------------------------------------------


@app.error(SignatureError)
def _unauthorized(exc: SignatureError) -> Response:
    count("WebhookRejected")
    logger.warning("delivery refused: bad or missing signature")
    return _json(HTTPStatus.UNAUTHORIZED, {"error": "unauthorized"})


@app.error(PayloadTooLargeError)
def _too_large(exc: PayloadTooLargeError) -> Response:
    count("WebhookRejected")
    logger.warning("delivery refused: body too large")
    return _json(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, {"error": "payload too large (limit 5 MiB)"})


@app.error(BadPayloadError)
def _bad_request(exc: BadPayloadError) -> Response:
    count("WebhookRejected")
    logger.warning("delivery refused: bad payload", error=str(exc))
    return _json(HTTPStatus.BAD_REQUEST, {"error": str(exc)})


@app.error(DeliveryInProgressError)
def _in_progress(exc: DeliveryInProgressError) -> Response:
    count("WebhookConflicts")
    logger.info("delivery already being processed")
    return _json(HTTPStatus.CONFLICT, {"error": "this delivery is being processed; try later"})


@app.error(SecretUnavailableError)
def _unavailable(exc: SecretUnavailableError) -> Response:
    logger.error("webhook secret unavailable", error=str(exc))
    return _json(HTTPStatus.SERVICE_UNAVAILABLE, {"error": "temporarily unavailable"})


@app.error(Exception)
def _internal(exc: Exception) -> Response:
    count("WebhookErrors")
    logger.exception("delivery failed")
    return _json(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "internal error"})


@logger.inject_lambda_context(
    correlation_id_path=correlation_paths.LAMBDA_FUNCTION_URL, clear_state=True
)
@metrics.log_metrics
@traced
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    _context["lambda"] = context
    return app.resolve(event)
