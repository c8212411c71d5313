#!/usr/bin/env bash
# Functions shared by fetch_and_run.sh, pipeline_run.sh and builder_run.sh.
# Sourced, never run: it sets no shell options of its own.

# Exit status for a refused configuration. Not 2, which make uses for its own failures.
readonly EX_CONFIG=64

log() {
	printf 'batchcron: %s\n' "$*" >&2
}

die() {
	local status=$1
	shift
	log "$*"
	exit "$status"
}

# A GitHub owner or repository name: [A-Za-z0-9._-], no "..", no leading "-" or ".".
is_valid_name_part() {
	local part=$1
	[[ -n "$part" && ${#part} -le 100 ]] || return 1
	[[ "$part" =~ ^[A-Za-z0-9._-]+$ ]] || return 1
	[[ "$part" != *..* && "$part" != -* && "$part" != .* ]]
}

# Sets REPO_OWNER and REPO_NAME from REPOSITORY ("name" or "owner/name") and GITHUB_ORG,
# or exits 64 before anything touches git, the disk or S3.
parse_repository() {
	local repository=${REPOSITORY:-}
	local owner=${GITHUB_ORG:-digital-land}
	local name=$repository
	[[ -n "$repository" ]] || die "$EX_CONFIG" "REPOSITORY is not set (expected a repository name, e.g. historic-england-collection)"
	if [[ "$repository" == */* ]]; then
		owner=${repository%%/*}
		name=${repository#*/}
	fi
	if ! is_valid_name_part "$owner" || ! is_valid_name_part "$name"; then
		die "$EX_CONFIG" "refusing REPOSITORY '$repository' (GITHUB_ORG '${GITHUB_ORG:-}'): expected name or owner/name of [A-Za-z0-9._-], without '..' or a leading '-' or '.'"
	fi
	REPO_OWNER=$owner
	REPO_NAME=$name
}

# A branch, tag or commit sha that git cannot mistake for an option or a refspec.
is_valid_git_ref() {
	local ref=$1
	[[ -n "$ref" && ${#ref} -le 200 ]] || return 1
	[[ "$ref" =~ ^[A-Za-z0-9._/-]+$ ]] || return 1
	[[ "$ref" != -* && "$ref" != /* && "$ref" != */ && "$ref" != *..* && "$ref" != *//* && "$ref" != *.lock ]]
}

is_commit_sha() {
	[[ "$1" =~ ^([0-9a-f]{40}|[0-9a-f]{64})$ ]]
}

# A boolean environment variable: empty, true or false (also 1/0, yes/no), anything else exits 64.
check_flag() {
	local name=$1
	local value=${!name:-}
	case "${value,,}" in
	"" | true | false | 1 | 0 | yes | no) ;;
	*) die "$EX_CONFIG" "$name must be true or false, not '$value'" ;;
	esac
}

flag_enabled() {
	local value=${!1:-}
	case "${value,,}" in
	true | 1 | yes) return 0 ;;
	*) return 1 ;;
	esac
}

# GITHUB_TOKEN must not be in the environment of any process that runs build steps: a step can
# read /proc/<pid>/environ of its ancestors, and `unset` does not change what that shows (the
# environment the process was started with). So a script started with GITHUB_TOKEN writes it to
# a file only this user can read and starts itself again without it. git reads the file through
# a credential helper, and the file is deleted once the checkout is done, before any step.
# Usage, first thing in main: hide_github_token "$0" "$@"
hide_github_token() {
	[[ -n "${GITHUB_TOKEN:-}" ]] || return 0
	local script=$1 file
	shift
	file=$(umask 077 && mktemp "${TMPDIR:-/tmp}/batchcron-token.XXXXXX") ||
		die "$EX_CONFIG" "cannot create a private file for GITHUB_TOKEN"
	printf '%s\n' "$GITHUB_TOKEN" >"$file"
	exec env -u GITHUB_TOKEN BATCHCRON_GITHUB_TOKEN_FILE="$file" bash "$script" "$@"
}

# Takes the token file's path out of the environment; git_with_credentials still uses it.
take_github_token() {
	if [[ -n "${GITHUB_TOKEN:-}" ]]; then
		die "$EX_CONFIG" "GITHUB_TOKEN is still in the environment (call hide_github_token first)"
	fi
	GITHUB_TOKEN_FILE=${BATCHCRON_GITHUB_TOKEN_FILE:-}
	unset BATCHCRON_GITHUB_TOKEN_FILE
}

# Deletes the token file: nothing after the checkout may read the token.
forget_github_token() {
	if [[ -n "${GITHUB_TOKEN_FILE:-}" ]]; then
		rm -f -- "$GITHUB_TOKEN_FILE"
	fi
	GITHUB_TOKEN_FILE=""
}

# Runs git with the token offered by a credential helper that reads it from the token file:
# the token is never in a URL, an argument list, a log line or an environment.
git_with_credentials() {
	if [[ -z "${GITHUB_TOKEN_FILE:-}" ]]; then
		GIT_TERMINAL_PROMPT=0 git "$@"
		return
	fi
	# shellcheck disable=SC2016 # expanded by the helper's shell, not here
	local helper='!f() { test "$1" = get || return 0; IFS= read -r t <"$BATCHCRON_GITHUB_TOKEN_FILE"; printf "username=x-access-token\npassword=%s\n" "$t"; }; f'
	GIT_TERMINAL_PROMPT=0 \
		GIT_CONFIG_COUNT=1 \
		GIT_CONFIG_KEY_0="credential.https://github.com.helper" \
		GIT_CONFIG_VALUE_0="$helper" \
		BATCHCRON_GITHUB_TOKEN_FILE="$GITHUB_TOKEN_FILE" \
		git "$@"
}

# Shallow clone of github.com/<owner>/<name> into dest, at ref when one is given.
clone_repository() {
	local owner=$1 name=$2 dest=$3 ref=${4:-}
	local url="https://github.com/${owner}/${name}.git"
	if [[ -z "$ref" ]]; then
		log "cloning ${owner}/${name} (default branch)"
		git_with_credentials clone --quiet --depth 1 --no-tags -- "$url" "$dest"
	elif is_commit_sha "$ref"; then
		log "cloning ${owner}/${name} at commit ${ref}"
		git init --quiet -- "$dest"
		git -C "$dest" remote add origin "$url"
		git_with_credentials -C "$dest" fetch --quiet --depth 1 --no-tags origin "$ref"
		git -C "$dest" checkout --quiet --detach FETCH_HEAD
	else
		log "cloning ${owner}/${name} at ${ref}"
		git_with_credentials clone --quiet --depth 1 --no-tags --branch "$ref" -- "$url" "$dest"
	fi
	log "checked out $(git -C "$dest" rev-parse HEAD)"
}

# Shared start of pipeline_run.sh and builder_run.sh: check every input, then clone and cd.
prepare_checkout() {
	take_github_token
	# However the script ends, the token file goes with it.
	trap forget_github_token EXIT
	parse_repository
	if [[ -n "${GIT_REF:-}" ]] && ! is_valid_git_ref "$GIT_REF"; then
		die "$EX_CONFIG" "refusing GIT_REF '$GIT_REF': expected a branch, tag or commit sha"
	fi
	check_flag SKIP_PUSH
	check_flag REBUILD
	clone_repository "$REPO_OWNER" "$REPO_NAME" "$PWD/$REPO_NAME" "${GIT_REF:-}"
	forget_github_token
	cd -- "$PWD/$REPO_NAME" || exit
}

run_step() {
	CURRENT_STEP="$*"
	log "step: $*"
	"$@"
}

# A step that publishes; SKIP_PUSH=true turns the run into a dry run.
push_step() {
	if flag_enabled SKIP_PUSH; then
		log "SKIP_PUSH is set: skipping $*"
		return 0
	fi
	run_step "$@"
}

on_step_error() {
	local status=$1
	log "step failed with exit status ${status}: ${CURRENT_STEP:-setup}; no later step runs"
}
