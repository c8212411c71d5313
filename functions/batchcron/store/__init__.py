"""The run store: one DynamoDB table (single-table design, docs/run-store.md). `runs` holds
`RunStore` (runs, the outbox, the watermark), composed of the parts kept beside it: `table`
(the generic DynamoDB helpers), `items` (item (de)serialisation and `ConflictError`), `state`
(per-job state and settlement), `recent` (each job's newest runs for the grid), `deliveries`
(webhook delivery records), `children` (array children's and nodes' progress on their
parent's run), `cycles` (the `after:` cycle writes) and `checks` (the tick's
once-per-cycle checks: a deadline missed, a wait overdue).

May import: `adapters`, `models`, `records`, `observability`; never the catalogue, the domain
folders (scheduling, pushes, outcomes) or the faces.
"""
