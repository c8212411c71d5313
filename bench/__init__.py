"""`make bench`: measure batchcron against its limits and alternatives, side by side in the same
run, and write bench/results.md. Ratios, not absolute times: the machines are shared and noisy.
`python -m bench --only SECTION` re-runs one section (see `python -m bench --help`)."""
