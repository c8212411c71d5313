"""The status page (`batchcron ui`, and local mode's `/`): the grid of recent runs, a job's
history, a run's attempts and log, and the operator's buttons. `app` routes requests, `grid`
and `pages` build each view (pure), `source` reads the catalogue, run store and logs,
`server` serves the page over HTTP, `render` and `text` shape the HTML. Server-rendered
(Jinja2, autoescaped) from package data; served on 127.0.0.1 only; never imported by a Lambda
handler.

May import: `wiring` and every layer below it; never `cli` or `local` (the CLI starts the
page and hands it the CLI's error wording; local mode is handed the page by the CLI).
"""
