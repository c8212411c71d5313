"""Fault-injection campaigns: bounded, seeded runs of batchcron under faults that count what they
tried and what came out. `make test` asserts on them (test_campaigns.py); `make bench` runs the
same campaigns and reports the counts in bench/results.md."""
