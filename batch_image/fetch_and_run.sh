#!/usr/bin/env bash
# Entrypoint of the batch image: pick the script named by BATCH_FILE_URL, run it with its
# output streamed live and kept, copy the logs to S3, and exit with the script's own status.
set -Eeuo pipefail

BATCHCRON_BIN_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=batchcron_lib.sh
source "$BATCHCRON_BIN_DIR/batchcron_lib.sh"

readonly EX_FETCH=69
readonly ORIGINAL_SCRIPT_BASE_URL="https://raw.githubusercontent.com/digital-land/docker-builds/main"

CHILD_PID=""
CHILD_STATUS=""
KILL_TIMER_PID=""
RECEIVED_SIGNAL=""

usage() {
	cat >&2 <<-'USAGE'
		usage: BATCH_FILE_URL=<script> REPOSITORY=<name> fetch_and_run.sh
		  BATCH_FILE_URL  pipeline | builder | pipeline_run.sh | builder_run.sh (baked into the image),
		                  or an https URL under ALLOWED_BATCH_FILE_URL_PREFIXES (checked against
		                  BATCH_FILE_SHA256 when set)
		  REPOSITORY      repository name or owner/name (owner defaults to GITHUB_ORG, digital-land)
	USAGE
}

# The baked script a BATCH_FILE_URL names, including the original image's two URLs.
baked_script_for() {
	case "$1" in
	pipeline | pipeline_run.sh | "$ORIGINAL_SCRIPT_BASE_URL/pipeline_run.sh") echo pipeline_run.sh ;;
	builder | builder_run.sh | "$ORIGINAL_SCRIPT_BASE_URL/builder_run.sh") echo builder_run.sh ;;
	*) return 1 ;;
	esac
}

# An https URL with nothing that curl or a server could reinterpret to escape an allowed prefix.
is_plain_https_url() {
	local url=$1
	[[ "$url" =~ ^https://[A-Za-z0-9.-]+(:[0-9]+)?/[^[:space:][:cntrl:]]*$ ]] || return 1
	local lower=${url,,}
	[[ "$lower" != *..* && "$lower" != *%2e* && "$lower" != *%2f* && "$lower" != *\\* ]]
}

# True when url starts with one of the comma-separated prefixes. A prefix that does not end in
# "/" only matches at a path boundary, so https://host/a never allows https://host/ab.
url_is_allowed() {
	local url=$1 prefixes=$2 prefix
	local -a list
	IFS=',' read -r -a list <<<"$prefixes"
	for prefix in "${list[@]}"; do
		prefix=${prefix#"${prefix%%[![:space:]]*}"}
		prefix=${prefix%"${prefix##*[![:space:]]}"}
		[[ "$prefix" == https://?* ]] || continue
		if [[ "$prefix" == */ ]]; then
			[[ "$url" == "$prefix"* ]] && return 0
		else
			[[ "$url" == "$prefix" || "$url" == "$prefix"/* ]] && return 0
		fi
	done
	return 1
}

fetch_batch_file() {
	local url=$1 dest=$2
	log "downloading $url"
	curl --fail --silent --show-error --location \
		--proto '=https' --proto-redir '=https' \
		--retry 3 --connect-timeout 20 --max-time "${BATCHCRON_FETCH_TIMEOUT:-120}" \
		--output "$dest" "$url" </dev/null
}

verify_sha256() {
	local file=$1 expected=${2,,} actual
	actual=$(sha256sum "$file")
	actual=${actual%% *}
	[[ "$actual" == "$expected" ]]
}

# Prints the path of the script to run, or exits: 64 for a refused BATCH_FILE_URL (before any
# download) or a checksum mismatch, 69 when an allowed URL cannot be downloaded.
resolve_batch_file() {
	local url=${BATCH_FILE_URL:-} run_dir=$1 baked expected=${BATCH_FILE_SHA256:-}
	if [[ -z "$url" ]]; then
		usage
		die "$EX_CONFIG" "BATCH_FILE_URL is not set"
	fi
	if baked=$(baked_script_for "$url"); then
		echo "$BATCHCRON_BIN_DIR/$baked"
		return 0
	fi
	[[ "$url" == https://* ]] || die "$EX_CONFIG" "refusing BATCH_FILE_URL '$url': not a baked script name and not an https URL"
	is_plain_https_url "$url" || die "$EX_CONFIG" "refusing BATCH_FILE_URL '$url': malformed URL"
	if ! url_is_allowed "$url" "${ALLOWED_BATCH_FILE_URL_PREFIXES:-}"; then
		die "$EX_CONFIG" "refusing BATCH_FILE_URL '$url': it does not start with any prefix in ALLOWED_BATCH_FILE_URL_PREFIXES ('${ALLOWED_BATCH_FILE_URL_PREFIXES:-}')"
	fi
	if [[ -n "$expected" && ! "$expected" =~ ^[0-9A-Fa-f]{64}$ ]]; then
		die "$EX_CONFIG" "refusing BATCH_FILE_SHA256 '$expected': expected 64 hex digits"
	fi
	local dest="$run_dir/batch_file.sh"
	fetch_batch_file "$url" "$dest" || die "$EX_FETCH" "could not download $url"
	if [[ -n "$expected" ]]; then
		verify_sha256 "$dest" "$expected" || die "$EX_CONFIG" "refusing $url: its sha256 does not match BATCH_FILE_SHA256"
	else
		log "warning: BATCH_FILE_SHA256 is not set; running $url unchecked"
	fi
	echo "$dest"
}

# Tees the script's stdout and stderr into files while passing each to the same stream of
# the container. The tees ignore INT and TERM so they outlive the script and lose nothing.
start_log_capture() {
	local run_dir=$1
	mkfifo "$run_dir/stdout.fifo" "$run_dir/stderr.fifo"
	(
		trap '' INT TERM
		exec tee -a "$run_dir/stdout.log" <"$run_dir/stdout.fifo"
	) &
	TEE_PIDS=("$!")
	(
		trap '' INT TERM
		exec tee -a "$run_dir/stderr.log" <"$run_dir/stderr.fifo" >&2
	) &
	TEE_PIDS+=("$!")
}

stop_log_capture() {
	local run_dir=$1
	wait "${TEE_PIDS[@]}" || true
	rm -f "$run_dir/stdout.fifo" "$run_dir/stderr.fifo"
}

# Sends SIGKILL to the script's process group unless cancelled within the grace period.
arm_kill_timer() {
	[[ -z "$KILL_TIMER_PID" ]] || return 0
	# Its own session, so cancelling it also ends its sleep.
	# shellcheck disable=SC2016 # expanded by the timer's shell
	setsid bash -c 'sleep "$1" && echo "batchcron: processes still running $1s after SIGTERM; sending SIGKILL" >&2 &&
		kill -s KILL -- "-$2"' kill-timer "${BATCHCRON_KILL_GRACE_SECONDS:-20}" "$CHILD_PID" </dev/null 3>&- &
	KILL_TIMER_PID=$!
}

cancel_kill_timer() {
	[[ -n "$KILL_TIMER_PID" ]] || return 0
	kill -- "-$KILL_TIMER_PID" 2>/dev/null || true
	wait "$KILL_TIMER_PID" 2>/dev/null || true
	KILL_TIMER_PID=""
}

# Forwards INT/TERM to the script's whole process group and arms a SIGKILL for stragglers.
on_signal() {
	local name=$1
	[[ -n "$RECEIVED_SIGNAL" ]] || RECEIVED_SIGNAL=$name
	log "received SIG${name}; stopping the running step"
	if [[ -z "$CHILD_PID" ]]; then
		exit $((128 + $(kill -l "$name")))
	fi
	[[ -z "$CHILD_STATUS" ]] || return 0
	kill -s "$name" -- "-$CHILD_PID" 2>/dev/null || kill -s "$name" "$CHILD_PID" 2>/dev/null || true
	arm_kill_timer
}

# Waits for the script and sets CHILD_STATUS. A trapped signal makes wait return early, so
# wait again while the script is still there.
wait_for_child() {
	local status
	while :; do
		status=0
		wait "$CHILD_PID" || status=$?
		kill -0 "$CHILD_PID" 2>/dev/null || break
	done
	CHILD_STATUS=$status
}

# Anything the script left running in its process group would hold its output open and keep
# the container alive after the run: stop it, by force after the grace period.
stop_stragglers() {
	if kill -0 -- "-$CHILD_PID" 2>/dev/null; then
		log "stopping processes the script left running"
		kill -s TERM -- "-$CHILD_PID" 2>/dev/null || true
		arm_kill_timer
	fi
}

# Runs the script in its own session (so a signal reaches every process of the running step)
# with stdin closed, and sets CHILD_STATUS.
run_batch_file() {
	local script=$1 run_dir=$2
	start_log_capture "$run_dir"
	setsid bash "$script" </dev/null >"$run_dir/stdout.fifo" 2>"$run_dir/stderr.fifo" &
	CHILD_PID=$!
	wait_for_child
	stop_stragglers
	stop_log_capture "$run_dir"
	cancel_kill_timer
}

# The exit status Batch sees: the script's own, or 128+n when this container was signalled.
final_status() {
	if [[ -n "$RECEIVED_SIGNAL" ]]; then
		echo $((128 + $(kill -l "$RECEIVED_SIGNAL")))
	else
		echo "$CHILD_STATUS"
	fi
}

# Best effort: a failed upload is reported but never changes the exit status.
upload_logs() {
	local run_dir=$1 dest=$2 name failed=0
	for name in stdout.log stderr.log exit_code.log; do
		if ! timeout "${BATCHCRON_UPLOAD_TIMEOUT:-60}" \
			aws s3 cp --only-show-errors "$run_dir/$name" "$dest/$name" </dev/null >&2; then
			failed=1
		fi
	done
	if ((failed)); then
		log "warning: could not copy every log to $dest; the exit status is unchanged"
	else
		log "logs copied to $dest/"
	fi
}

log_destination() {
	local base=${LOG_S3_URL:-} day=$1 job_id=$2
	[[ -n "$base" ]] || return 1
	if [[ "$base" != s3://?* ]]; then
		log "warning: LOG_S3_URL '$base' is not an s3:// URL; logs stay in the container"
		return 1
	fi
	echo "${base%/}/${day}/${REPOSITORY}/${job_id}"
}

# The token file hide_github_token made, if the script has not deleted it already.
remove_token_file() {
	if [[ -n "${BATCHCRON_GITHUB_TOKEN_FILE:-}" ]]; then
		rm -f -- "$BATCHCRON_GITHUB_TOKEN_FILE"
	fi
}

main() {
	hide_github_token "$0" "$@"
	trap remove_token_file EXIT
	local day job_id run_dir script status dest
	day=$(date -u +%F)
	job_id=${AWS_BATCH_JOB_ID:-local-$(date -u +%Y%m%dT%H%M%SZ)-$$}
	job_id=${job_id//[^A-Za-z0-9._:-]/_}
	trap 'on_signal TERM' TERM
	trap 'on_signal INT' INT

	parse_repository
	run_dir="${BATCHCRON_RUN_DIR:-$PWD/.batchcron}/${job_id}"
	mkdir -p -- "$run_dir"
	script=$(resolve_batch_file "$run_dir")

	log "running $(basename -- "$script") for ${REPO_OWNER}/${REPO_NAME}" \
		"(batch job ${job_id}, batchcron job ${BATCHCRON_JOB:-none}, run ${BATCHCRON_RUN_ID:-none})"
	run_batch_file "$script" "$run_dir"
	status=$(final_status)
	echo "$status" >"$run_dir/exit_code.log"
	log "finished with exit status $status"

	if dest=$(log_destination "$day" "$job_id"); then
		upload_logs "$run_dir" "$dest" || true
	fi
	exit "$status"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
	main "$@"
fi
