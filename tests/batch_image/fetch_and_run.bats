#!/usr/bin/env bats
# fetch_and_run.sh: which script runs, exit statuses, streams, S3 logs and signals.

bats_require_minimum_version 1.5.0

load test_helper

ORIGINAL=https://raw.githubusercontent.com/digital-land/docker-builds/main
ALLOWED=https://scripts.example.org/batch/

setup() {
	use_fakes git make aws curl
	SCRIPT="$BATCH_IMAGE_DIR/fetch_and_run.sh"
	export REPOSITORY=historic-england-collection
	export ALLOWED_BATCH_FILE_URL_PREFIXES="https://other.example.org/x/, $ALLOWED"
	export AWS_BATCH_JOB_ID=job-0001
}

teardown() {
	# A test that failed half way may leave a hung fake behind; end just that one.
	if [[ -f "$FAKE_STATE_DIR/hung.pid" ]]; then
		kill -s KILL "$(cat "$FAKE_STATE_DIR/hung.pid")" 2>/dev/null || true
	fi
}

# The script an allowed URL will download.
serve_script() {
	printf '%s\n' "$1" >"$FAKE_STATE_DIR/curl_body"
}

sha256_of_served() {
	local sum
	sum=$(sha256sum "$FAKE_STATE_DIR/curl_body")
	echo "${sum%% *}"
}

# The S3 "directory" the fake aws copied the logs to.
s3_log_dir() {
	local dirs=("$FAKE_STATE_DIR"/s3/logs-bucket/batch/*/"$REPOSITORY"/"$AWS_BATCH_JOB_ID")
	[[ -d "${dirs[0]}" ]] || return 1
	echo "${dirs[0]}"
}

@test "an empty BATCH_FILE_URL exits 64 with usage" {
	run "$SCRIPT"

	[ "$status" -eq 64 ]
	[[ "$output" == *"usage: BATCH_FILE_URL="* ]]
	refute_called curl
	refute_called git
}

@test "bare names run the pipeline and builder baked into the image" {
	local name
	for name in pipeline pipeline_run.sh; do
		: >"$FAKE_STATE_DIR/calls.log"
		rm -rf "$WORK_DIR/$REPOSITORY"
		BATCH_FILE_URL=$name run "$SCRIPT"
		[ "$status" -eq 0 ]
		make_calls | grep -qx 'make push-dataset-s3'
	done
	for name in builder builder_run.sh; do
		: >"$FAKE_STATE_DIR/calls.log"
		rm -rf "$WORK_DIR/$REPOSITORY"
		BATCH_FILE_URL=$name run "$SCRIPT"
		[ "$status" -eq 0 ]
		make_calls | grep -qx 'make push'
	done
	refute_called curl
}

@test "the original image's two URLs run the baked copies without downloading" {
	BATCH_FILE_URL="$ORIGINAL/pipeline_run.sh" run "$SCRIPT"
	[ "$status" -eq 0 ]
	make_calls | grep -qx 'make push-dataset-s3'

	rm -rf "$WORK_DIR/$REPOSITORY"
	BATCH_FILE_URL="$ORIGINAL/builder_run.sh" run "$SCRIPT"
	[ "$status" -eq 0 ]
	make_calls | grep -qx 'make push'

	refute_called curl
}

@test "URLs outside the allow-list or not plain https are refused with 64 before any download" {
	local url
	for url in \
		"http://scripts.example.org/batch/run.sh" \
		"file:///etc/passwd" \
		"ftp://scripts.example.org/batch/run.sh" \
		"https://evil.example.com/run.sh" \
		"$ORIGINAL/other_run.sh" \
		"https://scripts.example.org/batch-evil/run.sh" \
		"https://scripts.example.org/batch/../../evil/run.sh" \
		"https://scripts.example.org/batch/%2e%2e/evil/run.sh" \
		"https://scripts.example.org@evil.example.com/batch/run.sh" \
		"https://scripts.example.org/batch/run.sh two" \
		"/bin/sh" \
		"run.sh"; do
		BATCH_FILE_URL=$url run "$SCRIPT"
		[ "$status" -eq 64 ] || { echo "not refused: $url ($status)" >&2; return 1; }
		[[ "$output" == *"refusing BATCH_FILE_URL"* ]]
	done
	refute_called curl
	refute_called git
}

@test "with no allow-list every URL but the original two is refused" {
	serve_script 'echo ran'
	ALLOWED_BATCH_FILE_URL_PREFIXES="" BATCH_FILE_URL="${ALLOWED}run.sh" run "$SCRIPT"

	[ "$status" -eq 64 ]
	refute_called curl
}

@test "a prefix without a trailing slash matches only at a path boundary" {
	serve_script 'echo ran'
	export ALLOWED_BATCH_FILE_URL_PREFIXES=https://scripts.example.org/batch

	BATCH_FILE_URL=https://scripts.example.org/batchy/run.sh run "$SCRIPT"
	[ "$status" -eq 64 ]
	refute_called curl

	BATCH_FILE_URL=https://scripts.example.org/batch/run.sh run "$SCRIPT"
	[ "$status" -eq 0 ]
	[[ "$output" == *ran* ]]
}

@test "an allowed URL whose content matches BATCH_FILE_SHA256 is downloaded over https only and run" {
	serve_script 'echo "custom script ran in $PWD"'
	BATCH_FILE_SHA256=$(sha256_of_served) BATCH_FILE_URL="${ALLOWED}run.sh" run "$SCRIPT"

	[ "$status" -eq 0 ]
	[[ "$output" == *"custom script ran in $WORK_DIR"* ]]
	grep -q -- "--proto =https --proto-redir =https" "$FAKE_STATE_DIR/calls.log"
	grep -q "${ALLOWED}run.sh$" "$FAKE_STATE_DIR/calls.log"
}

@test "an allowed URL whose content does not match BATCH_FILE_SHA256 is refused with 64 and not run" {
	serve_script "touch '$BATS_TEST_TMPDIR/ran'"
	BATCH_FILE_SHA256=$(printf '0%.0s' {1..64}) BATCH_FILE_URL="${ALLOWED}run.sh" run "$SCRIPT"

	[ "$status" -eq 64 ]
	[[ "$output" == *"does not match BATCH_FILE_SHA256"* ]]
	[ ! -e "$BATS_TEST_TMPDIR/ran" ]
}

@test "a malformed BATCH_FILE_SHA256 is refused before downloading" {
	serve_script 'echo ran'
	BATCH_FILE_SHA256=abc BATCH_FILE_URL="${ALLOWED}run.sh" run "$SCRIPT"

	[ "$status" -eq 64 ]
	refute_called curl
}

@test "a download that fails exits 69" {
	BATCH_FILE_URL="${ALLOWED}missing.sh" run "$SCRIPT"

	[ "$status" -eq 69 ]
	[[ "$output" == *"could not download"* ]]
}

@test "an unsafe REPOSITORY is refused with 64 before any download or clone" {
	REPOSITORY='../x' BATCH_FILE_URL=pipeline run "$SCRIPT"
	[ "$status" -eq 64 ]

	serve_script 'echo ran'
	REPOSITORY='-x' BATCH_FILE_URL="${ALLOWED}run.sh" run "$SCRIPT"
	[ "$status" -eq 64 ]

	refute_called curl
	refute_called git
}

@test "the script's exit status passes through exactly" {
	local code
	for code in 0 1 3 2 42; do
		serve_script "exit $code"
		BATCH_FILE_URL="${ALLOWED}run.sh" run "$SCRIPT"
		[ "$status" -eq "$code" ] || { echo "exit $code came out as $status" >&2; return 1; }
	done
}

@test "a script killed by a signal exits 128+n" {
	serve_script 'kill -s KILL $$'
	BATCH_FILE_URL="${ALLOWED}run.sh" run "$SCRIPT"
	[ "$status" -eq 137 ]

	serve_script 'kill -s SEGV $$'
	BATCH_FILE_URL="${ALLOWED}run.sh" run "$SCRIPT"
	[ "$status" -eq 139 ]
}

@test "a failing pipeline step fails the container with the step's status" {
	fake_on 'make -j* dataset' 'exit 2'

	BATCH_FILE_URL=pipeline run "$SCRIPT"

	[ "$status" -eq 2 ]
	refute_called 'make push'
}

@test "stdout stays stdout and stderr stays stderr, live and in the kept logs" {
	serve_script 'echo to-stdout; echo to-stderr >&2'
	BATCH_FILE_URL="${ALLOWED}run.sh" run --separate-stderr "$SCRIPT"

	[ "$status" -eq 0 ]
	[[ "$output" == *to-stdout* && "$output" != *to-stderr* ]]
	[[ "$stderr" == *to-stderr* && "$stderr" != *to-stdout* ]]
	local logs="$WORK_DIR/.batchcron/$AWS_BATCH_JOB_ID"
	assert_equal "$(cat "$logs/stdout.log")" to-stdout
	assert_equal "$(cat "$logs/stderr.log")" to-stderr
	assert_equal "$(cat "$logs/exit_code.log")" 0
}

@test "logs go to LOG_S3_URL/<YYYY-MM-DD>/<repository>/<job id>/" {
	export LOG_S3_URL=s3://logs-bucket/batch/
	BATCH_FILE_URL=pipeline run "$SCRIPT"

	[ "$status" -eq 0 ]
	local dir
	dir=$(s3_log_dir)
	[[ "$dir" =~ /s3/logs-bucket/batch/[0-9]{4}-[0-9]{2}-[0-9]{2}/historic-england-collection/job-0001$ ]]
	grep -qx 'make makerules: out' "$dir/stdout.log"
	grep -qx 'make makerules: err' "$dir/stderr.log"
	refute grep -q 'make makerules: err' "$dir/stdout.log"
	assert_equal "$(cat "$dir/exit_code.log")" 0
}

@test "a failed run still copies its logs, with its exit status" {
	export LOG_S3_URL=s3://logs-bucket/batch
	fake_on 'make init' 'exit 3'

	BATCH_FILE_URL=pipeline run "$SCRIPT"

	[ "$status" -eq 3 ]
	assert_equal "$(cat "$(s3_log_dir)/exit_code.log")" 3
	grep -q 'step failed with exit status 3: make init' "$(s3_log_dir)/stderr.log"
}

@test "a failed log copy never changes the exit status" {
	export LOG_S3_URL=s3://logs-bucket/batch
	fake_on 'aws *' 'exit 1'

	BATCH_FILE_URL=pipeline run "$SCRIPT"
	[ "$status" -eq 0 ]
	[[ "$output" == *"could not copy every log"* ]]

	fake_on 'make init' 'exit 3'
	rm -rf "$WORK_DIR/$REPOSITORY"
	BATCH_FILE_URL=pipeline run "$SCRIPT"
	[ "$status" -eq 3 ]
	grep -q '^aws s3 cp' "$FAKE_STATE_DIR/calls.log"
}

@test "without LOG_S3_URL nothing is uploaded" {
	BATCH_FILE_URL=pipeline run "$SCRIPT"

	[ "$status" -eq 0 ]
	refute_called aws
}

@test "GITHUB_TOKEN appears in no command line, output or log" {
	local token=ghp_entrypointTOKEN1122334455
	export LOG_S3_URL=s3://logs-bucket/batch
	GITHUB_TOKEN=$token BATCH_FILE_URL=pipeline run "$SCRIPT"

	[ "$status" -eq 0 ]
	grep -qx "password=$token" "$FAKE_STATE_DIR/credential.out"
	refute grep -q "$token" "$FAKE_STATE_DIR/calls.log"
	[[ "$output" != *"$token"* ]]
	refute grep -rq "$token" "$FAKE_STATE_DIR/s3" "$WORK_DIR/.batchcron"
}

# Starts the entrypoint in the background and waits (bounded) until a fake step hangs.
start_hung_run() {
	"$SCRIPT" >"$BATS_TEST_TMPDIR/out" 2>"$BATS_TEST_TMPDIR/err" &
	RUN_PID=$!
	local i
	for i in $(seq 1 200); do
		[[ -s "$FAKE_STATE_DIR/hung.pid" ]] && return 0
		sleep 0.05
	done
	echo "the step never started" >&2
	return 1
}

@test "SIGTERM stops the running step, uploads the logs and exits 143" {
	export LOG_S3_URL=s3://logs-bucket/batch BATCH_FILE_URL=pipeline
	fake_on 'make -j* dataset' 'hang'
	start_hung_run

	kill -s TERM "$RUN_PID"
	local status=0
	wait "$RUN_PID" || status=$?

	[ "$status" -eq 143 ]
	grep -qx 'make terminated' "$FAKE_STATE_DIR/signals.log"
	refute_called 'make push'
	assert_equal "$(cat "$(s3_log_dir)/exit_code.log")" 143
	grep -q 'received SIGTERM' "$BATS_TEST_TMPDIR/err"
}

@test "a step that ignores SIGTERM is killed after the grace period" {
	export BATCH_FILE_URL=pipeline BATCHCRON_KILL_GRACE_SECONDS=1
	fake_on 'make -j* dataset' 'hang-ignoring-term'
	start_hung_run
	local hung
	hung=$(cat "$FAKE_STATE_DIR/hung.pid")

	kill -s TERM "$RUN_PID"
	local status=0
	wait "$RUN_PID" || status=$?

	[ "$status" -eq 143 ]
	refute is_running "$hung"
	grep -q 'sending SIGKILL' "$BATS_TEST_TMPDIR/err"
	refute_called 'make push'
}

@test "a script that exits 0 after SIGTERM still exits 143: the run did not finish" {
	serve_script 'trap "exit 0" TERM; echo $$ > "$FAKE_STATE_DIR/hung.pid"; sleep 1000 & wait'
	export BATCH_FILE_URL="${ALLOWED}run.sh"
	start_hung_run

	kill -s TERM "$RUN_PID"
	local status=0
	wait "$RUN_PID" || status=$?

	[ "$status" -eq 143 ]
}

@test "processes a script leaves behind are stopped so the container can exit" {
	serve_script 'sleep 1000 & echo $! >"$FAKE_STATE_DIR/left.pid"; exit 5'
	# timeout only guards against a hang; the assertion is on the status and the process.
	BATCH_FILE_URL="${ALLOWED}run.sh" run timeout 60 "$SCRIPT"

	[ "$status" -eq 5 ]
	refute is_running "$(cat "$FAKE_STATE_DIR/left.pid")"
	[[ "$output" == *"stopping processes the script left running"* ]]
}

@test "sourcing the script defines its functions without running anything" {
	run bash -c "source '$SCRIPT' && declare -F main >/dev/null && echo sourced"

	[ "$status" -eq 0 ]
	[ "$output" = sourced ]
	refute_called git
}

@test "no process running a build step has GITHUB_TOKEN in its environment (/proc/*/environ)" {
	local token
	token="ghp_proc$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
	printf '%s\n' "$token" >"$FAKE_STATE_DIR/needle"
	make_scanning_proc
	export TMPDIR="$BATS_TEST_TMPDIR/tmp" BATCHCRON_PROC_MARKER="$RANDOM$RANDOM"
	mkdir -p "$TMPDIR"

	GITHUB_TOKEN=$token BATCH_FILE_URL=pipeline run "$SCRIPT"

	[ "$status" -eq 0 ] || { echo "$output"; false; }
	# git still got the token, through the credential helper ...
	grep -qx "password=$token" "$FAKE_STATE_DIR/credential.out"
	# ... every make step scanned the entrypoint, the script and itself (the scan works) ...
	[ "$(grep -c '^make' "$FAKE_STATE_DIR/calls.log")" -ge 5 ]
	[ "$(sort -u "$FAKE_STATE_DIR/scanned" | wc -l)" -ge 3 ]
	# ... and found the token in no environment, and no token file left to read
	[ ! -s "$FAKE_STATE_DIR/leaks" ] || { cat "$FAKE_STATE_DIR/leaks"; false; }
	refute grep -q 'batchcron-token' "$FAKE_STATE_DIR/tmp_files"
	refute grep -q 'BATCHCRON_GITHUB_TOKEN_FILE=/' "$FAKE_STATE_DIR/env.log"
	# The entrypoint removed its token file too
	refute ls "$TMPDIR"/batchcron-token.*
}
