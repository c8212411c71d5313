"""Pushes: GitHub deliveries -> runs. `signature` checks the raw request (body, HMAC over its
exact bytes, headers) before anything is parsed; `payload` holds the push and ping models;
`matching` decides which jobs a push starts; `webhook` is the webhook's logic (match,
deduplicate the delivery, submit through the one submit path); `router` routes Function URL
requests and maps errors to status codes in one place.

May import: `scheduling` (the submit path), `catalogue`, `store`, `adapters`, `models`,
`records`, `settings`, `observability`; never `outcomes`, `wiring`, the handlers or the faces.
"""
