# Shared setup for the batch_image bats tests: a temp work dir, fakes on PATH, a clean env.

BATCH_IMAGE_DIR=$(cd "$BATS_TEST_DIRNAME/../../batch_image" && pwd)
FAKES_DIR="$BATS_TEST_DIRNAME/fakes"

# Puts the fake under each given name first on PATH and starts from a clean environment.
use_fakes() {
	export FAKE_STATE_DIR="$BATS_TEST_TMPDIR/state"
	WORK_DIR="$BATS_TEST_TMPDIR/work"
	mkdir -p "$FAKE_STATE_DIR/s3" "$BATS_TEST_TMPDIR/bin" "$WORK_DIR"
	: >"$FAKE_STATE_DIR/calls.log"
	local tool
	for tool in "$@"; do
		cp "$FAKES_DIR/fake" "$BATS_TEST_TMPDIR/bin/$tool"
	done
	export PATH="$BATS_TEST_TMPDIR/bin:$PATH"
	unset GITHUB_TOKEN GITHUB_ORG GIT_REF REBUILD SKIP_PUSH LOG_S3_URL AWS_BATCH_JOB_ID \
		BATCH_FILE_URL BATCH_FILE_SHA256 ALLOWED_BATCH_FILE_URL_PREFIXES BATCHCRON_JOB BATCHCRON_RUN_ID
	cd "$WORK_DIR" || return 1
}

# Makes calls matching the glob do action (see fakes/fake).
fake_on() {
	printf '%s|%s\n' "$1" "$2" >>"$FAKE_STATE_DIR/actions"
}

calls() {
	cat "$FAKE_STATE_DIR/calls.log"
}

# Just the make calls, one per line, e.g. "make init".
make_calls() {
	grep '^make' "$FAKE_STATE_DIR/calls.log" || true
}

refute_called() {
	if grep -q "^$1" "$FAKE_STATE_DIR/calls.log"; then
		echo "expected no '$1' call, got:" >&2
		calls >&2
		return 1
	fi
}

assert_equal() {
	if [[ "$1" != "$2" ]]; then
		printf 'expected: %s\nactual:   %s\n' "$2" "$1" >&2
		return 1
	fi
}

# Fails when the command succeeds. Use it instead of "! cmd": bash's errexit ignores a negated
# command, so "! cmd" in the middle of a bats test can never fail it.
refute() {
	if "$@" 2>/dev/null; then
		echo "expected this to fail: $*" >&2
		return 1
	fi
}

# True while pid is a live process. A killed process whose parent has gone may stay a zombie
# until init reaps it; that counts as ended.
is_running() {
	local state
	state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
	[[ -n "$state" && "$state" != Z* ]]
}

# A make that, while it runs, reads the environment of every process it can (its ancestors
# included: the entrypoint and the script) and notes where it finds the token or a marker.
make_scanning_proc() {
	cat >"$BATS_TEST_TMPDIR/bin/make" <<-'FAKE'
		#!/usr/bin/env bash
		printf 'make %s\n' "$*" >>"$FAKE_STATE_DIR/calls.log"
		for environ in /proc/[0-9]*/environ; do
			grep -qaF -f "$FAKE_STATE_DIR/needle" "$environ" 2>/dev/null &&
				echo "$environ" >>"$FAKE_STATE_DIR/leaks"
			grep -qa "BATCHCRON_PROC_MARKER=$BATCHCRON_PROC_MARKER" "$environ" 2>/dev/null &&
				echo "$environ" >>"$FAKE_STATE_DIR/scanned"
		done
		ls "$TMPDIR" >>"$FAKE_STATE_DIR/tmp_files"
		echo "make $*: BATCHCRON_GITHUB_TOKEN_FILE=${BATCHCRON_GITHUB_TOKEN_FILE-<unset>}" >>"$FAKE_STATE_DIR/env.log"
	FAKE
	chmod +x "$BATS_TEST_TMPDIR/bin/make"
}
