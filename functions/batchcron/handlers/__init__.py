"""The three Lambda entry points (`template.yaml`'s `Handler:` paths): `dispatch`
(DispatchFunction, the scheduler's tick), `webhook` (WebhookFunction, the Function URL) and
`job_state` (JobStateFunction, Batch state changes). Each is thin: Powertools decorators, parse
the event, call one piece of logic built by `wiring`, answer.

May import: `wiring` and every layer below it; never the faces (cli, ui, local).
"""
