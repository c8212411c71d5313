#!/usr/bin/env bats
# tools/calendar.sh (`make calendar`) with a fake faketime and a fake pytest: one line per
# instant with its result, the clock started at each instant with the monotonic clock real, and a
# skip saying why when faketime is missing and cannot be installed.

load test_helper

setup() {
	ROOT=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	BIN="$BATS_TEST_TMPDIR/bin"
	mkdir -p "$BIN"
	export CALLS="$BATS_TEST_TMPDIR/calls.log"
	: >"$CALLS"
	cat >"$BIN/faketime" <<-'FAKE'
		#!/usr/bin/env bash
		# faketime [-m] DATE cmd...: record the call and the clock settings, then run cmd
		[[ "$1" == -m ]] && shift
		printf 'faketime [%s] DONT_FAKE_MONOTONIC=%s FAKETIME_FORCE_MONOTONIC_FIX=%s PYTHONPATH=%s\n' \
			"$1" "${DONT_FAKE_MONOTONIC:-}" "${FAKETIME_FORCE_MONOTONIC_FIX:-}" "${PYTHONPATH:-}" >>"$CALLS"
		export FAKE_AT="$1"
		shift
		exec "$@"
	FAKE
	cat >"$BIN/pytest" <<-'FAKE'
		#!/usr/bin/env bash
		printf 'pytest %s\n' "$*" >>"$CALLS"
		if [[ "$FAKE_AT" == "${FAIL_AT:-none}" ]]; then
			# as `pytest -q` prints it: no `=` around the last line
			echo "FAILED tests/unit/test_x.py::test_y - assert 1 == 2"
			echo "1 failed, 9 passed in 1.50s (0:00:01)"
			exit 1
		fi
		echo "========= 10 passed in 1.25s ========="
	FAKE
	chmod +x "$BIN/faketime" "$BIN/pytest"
	export PYTEST="$BIN/pytest" CALENDAR_WORKERS=2 CALENDAR_LOGS="$BATS_TEST_TMPDIR/logs"
	export FAKETIME_BIN="$BIN/faketime"
	cd "$ROOT" || return 1
}

@test "every instant of the campaign gets one line with its result" {
	run tools/calendar.sh
	[ "$status" -eq 0 ] || { echo "$output"; false; }

	[ "$(grep -c '^calendar .* UTC  passed  10 passed in 1.25s' <<<"$output")" -eq 8 ]
	[[ "$output" == *"calendar 2026-12-31 23:59:30 UTC  passed"* ]]
	[[ "$output" == *"calendar 2027-03-28 00:59:30 UTC  passed"* ]]
	[[ "$output" == *"calendar 2028-02-29 12:00:00 UTC  passed"* ]]
	[[ "$output" == *"calendar: 8 instant(s) passed" ]]
	# The clock starts at each instant, UTC, with the monotonic clock left real.
	grep -q '^faketime \[2027-10-31 01:30:00 UTC\] DONT_FAKE_MONOTONIC=1 FAKETIME_FORCE_MONOTONIC_FIX=0 PYTHONPATH=.*tools/faketime' "$CALLS"
	grep -q '^pytest -q -p no:cacheprovider -n 2 tests/unit tests/integration tests/fault_injection$' "$CALLS"
}

@test "AT picks instants, in either form; a failure is named with its log and fails the run" {
	FAIL_AT="2027-03-28 00:59:30 UTC" run tools/calendar.sh "2026-12-31 23:59:30,2027-03-28T00:59:30Z"
	[ "$status" -eq 1 ] || { echo "$output"; false; }

	assert_equal "$(grep -c '^calendar 20' <<<"$output")" 2
	[[ "$output" == *"calendar 2026-12-31 23:59:30 UTC  passed  10 passed in 1.25s"* ]]
	[[ "$output" == *"calendar 2027-03-28 00:59:30 UTC  FAILED  1 failed, 9 passed in 1.50s"*"log: $CALENDAR_LOGS/20270328005930Z.log"* ]]
	[[ "$output" == *"calendar: 1 of 2 instant(s) failed" ]]
	grep -q '1 failed' "$CALENDAR_LOGS/20270328005930Z.log"
}

@test "an instant date cannot read is a usage error" {
	run tools/calendar.sh "next blursday"
	[ "$status" -eq 2 ]
	[[ "$output" == *"cannot read the instant 'next blursday'"* ]]
	refute grep -q pytest "$CALLS"
}

@test "without faketime and not root the campaign is skipped, saying why" {
	printf '#!/usr/bin/env bash\necho 1000\n' >"$BIN/id"
	chmod +x "$BIN/id"
	PATH="$BIN:$PATH" FAKETIME_BIN=no-such-faketime run tools/calendar.sh
	[ "$status" -eq 0 ]
	[[ "$output" == "calendar skipped: no faketime and not root"* ]]
	assert_equal "$(wc -l <"$CALLS")" 0
}

@test "CALENDAR_SUITES narrows the suites (make test runs the unit suite only)" {
	CALENDAR_SUITES="tests/unit" run tools/calendar.sh "2026-12-31 23:59:30"
	[ "$status" -eq 0 ] || { echo "$output"; false; }

	grep -q '^pytest -q -p no:cacheprovider -n 2 tests/unit$' "$CALLS"
	[[ "$output" == *"calendar 2026-12-31 23:59:30 UTC  passed"* ]]
}
