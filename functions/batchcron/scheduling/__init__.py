"""Scheduling: starting runs. `dispatch` is the dispatcher's tick (every due slot of every
scheduled job, once, and the outbox); `submit` is the one submit path every trigger takes
(claim, concurrency policy, SubmitJob); `cycles` starts `after:` jobs whose cycle is complete;
`waits` alerts once when an `after:` job has waited longer than its `after.max_wait`;
`control` is what an operator does (run now, pause/resume, cancel); `deadlines` is the tick's
deadline check (alert once per missed cycle, follow up a late finish once).

May import: `catalogue`, `store`, `adapters`, `models`, `records`, `settings`,
`observability`; never `pushes`, `outcomes`, `wiring`, the handlers or the faces.
"""
