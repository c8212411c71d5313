"""The status page (`batchcron ui`, and local mode's `/`): the grid of recent runs, a job's
history, a run's attempts and log, and the operator's buttons.

Server-rendered (Jinja2, autoescaped) from package data; served on 127.0.0.1 only. Never
imported by a Lambda handler.
"""
