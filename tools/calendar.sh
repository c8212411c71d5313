#!/usr/bin/env bash
# The calendar campaign (`make calendar`): the unit, integration and fault-injection suites under
# libfaketime, once at each instant, one line per instant with its result.
#
#   tools/calendar.sh [INSTANTS]     INSTANTS: comma-separated UTC times (default: CALENDAR below),
#                                    as `2027-03-28 00:59:30` or `2027-03-28T00:59:30Z`
#
# `faketime 'DATE' cmd` starts the clock at DATE and lets it run, so waits and timeouts work;
# the monotonic clock is left alone (timeouts and budgets measure with it; faking it would hang
# every timed wait of a thread). Without faketime it
# is installed with apt-get when root; otherwise the campaign is skipped, saying why.
# Environment: PYTEST (default .venv/bin/pytest), FAKETIME_BIN (faketime), CALENDAR_WORKERS
# (pytest-xdist workers, default: the number of CPUs), CALENDAR_LOGS (each instant's log).
set -Eeuo pipefail

CALENDAR=(
	"2026-12-31 23:59:30" # year end
	"2027-01-01 00:00:30"
	"2027-03-01 00:00:30" # a month start after February
	"2027-03-28 00:59:30" # UK spring forward
	"2027-03-14 06:59:30" # US spring forward
	"2027-10-31 01:30:00" # UK fall back
	"2027-11-07 05:30:00" # US fall back
	"2028-02-29 12:00:00" # leap day
)
# CALENDAR_SUITES (space-separated) narrows it: `make test` runs the unit suite only, to keep CI short.
read -r -a SUITES <<<"${CALENDAR_SUITES:-tests/unit tests/integration tests/fault_injection}"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

_is_sourced() {
	[[ "${BASH_SOURCE[0]}" != "$0" ]]
}

# Prints the reason and returns 1 when faketime is not there and cannot be installed.
ensure_faketime() {
	if command -v "$FAKETIME_BIN" >/dev/null; then
		return 0
	fi
	if [[ "$(id -u)" == 0 ]] && command -v apt-get >/dev/null; then
		echo "installing faketime (apt-get)"
		if apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q faketime >/dev/null; then
			command -v "$FAKETIME_BIN" >/dev/null && return 0
		fi
		echo "calendar skipped: apt-get could not install faketime"
		return 1
	fi
	echo "calendar skipped: no faketime and not root (apt-get install faketime, then make calendar)"
	return 1
}

# An instant as `YYYY-MM-DD HH:MM:SS` (UTC), or an error for one GNU date cannot read.
normalise() {
	local text="$1" parsed
	if ! parsed=$(TZ=UTC date -u -d "$text" '+%Y-%m-%d %H:%M:%S' 2>/dev/null); then
		echo "calendar: cannot read the instant '$text' (e.g. 2027-03-28 00:59:30)" >&2
		return 2
	fi
	printf '%s\n' "$parsed"
}

# pytest's last summary line ("552 passed, 2 skipped in 61.2s"), without its decoration (`-q`
# prints it bare, a normal run between `=` signs).
summary_of() {
	local log="$1" line
	line=$(grep -E '^(=+ )?[0-9]+ (passed|failed|error|errors|skipped|deselected|xfailed|xpassed)\b.* in [0-9.]+s' "$log" | tail -n 1 || true)
	line="${line#"${line%%[!= ]*}"}"
	line="${line%"${line##*[!= ]}"}"
	printf '%s\n' "${line:-no pytest summary}"
}

# Runs the suites with the clock started at one instant; prints its line; returns pytest's status.
run_at() {
	local at="$1" log="$2" start status=0 took
	start=$(date +%s)
	# The monotonic clock stays real, and so do condition-variable waits: libfaketime 0.9.10's
	# "monotonic fix" for them mistimes the GIL's hand-over (threaded tests ran 10-20x slower);
	# tools/faketime/sitecustomize.py gives Python a time.sleep that works with a real monotonic.
	PYTHONPATH="$HERE/faketime${PYTHONPATH:+:$PYTHONPATH}" DONT_FAKE_MONOTONIC=1 FAKETIME_FORCE_MONOTONIC_FIX=0 \
		"$FAKETIME_BIN" -m "$at UTC" \
		"$PYTEST" -q -p no:cacheprovider -n "$CALENDAR_WORKERS" "${SUITES[@]}" >"$log" 2>&1 || status=$?
	took=$(($(date +%s) - start))
	if [[ "$status" == 0 ]]; then
		printf 'calendar %s UTC  passed  %s (%d s)\n' "$at" "$(summary_of "$log")" "$took"
	else
		printf 'calendar %s UTC  FAILED  %s (%d s) log: %s\n' "$at" "$(summary_of "$log")" "$took" "$log"
	fi
	return "$status"
}

main() {
	PYTEST=${PYTEST:-.venv/bin/pytest}
	FAKETIME_BIN=${FAKETIME_BIN:-faketime}
	CALENDAR_WORKERS=${CALENDAR_WORKERS:-$(nproc 2>/dev/null || echo 2)}
	CALENDAR_LOGS=${CALENDAR_LOGS:-.aws-sam/calendar}
	local instants=() text at failed=0
	if [[ -n "${1:-}" ]]; then
		IFS=',' read -r -a instants <<<"$1"
	else
		instants=("${CALENDAR[@]}")
	fi
	ensure_faketime || return 0
	mkdir -p "$CALENDAR_LOGS"
	for text in "${instants[@]}"; do
		at=$(normalise "$text") || return 2
		run_at "$at" "$CALENDAR_LOGS/$(tr -d ' :-' <<<"$at")Z.log" || failed=$((failed + 1))
	done
	if [[ "$failed" -gt 0 ]]; then
		echo "calendar: $failed of ${#instants[@]} instant(s) failed"
		return 1
	fi
	echo "calendar: ${#instants[@]} instant(s) passed"
}

if ! _is_sourced; then
	main "$@"
fi
