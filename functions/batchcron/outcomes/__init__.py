"""Outcomes: what happened to a run. `events` is the Batch state-change event model, which run
an event belongs to and the order events apply in; `record` records each change on its run
(the one path the JobStateFunction and local mode share) and starts `after:` jobs whose cycle
it completes; `alerting` is the alert policy and the Slack messages (pure); `notify` delivers
one pending alert, once, through the run store it is handed; `cost` estimates what a run cost and
`lag` how late it started (both pure).

May import: `scheduling` (the submit path, `after:` cycle starts), `catalogue`, `store`,
`adapters`, `models`, `records`, `settings`, `observability`; never `pushes`, `wiring`, the
handlers or the faces.
"""
