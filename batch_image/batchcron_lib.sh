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

# Keeps GITHUB_TOKEN out of the environment of everything except git.
take_github_token() {
	GITHUB_TOKEN_VALUE=${GITHUB_TOKEN:-}
	unset GITHUB_TOKEN
}

# Runs git with the token offered by a credential helper that reads it from git's own
# environment: the token never appears in a URL, an argument list or a log line.
git_with_credentials() {
	if [[ -z "${GITHUB_TOKEN_VALUE:-}" ]]; then
		GIT_TERMINAL_PROMPT=0 git "$@"
		return
	fi
	# shellcheck disable=SC2016 # $GITHUB_TOKEN must be expanded by the helper's shell, not here
	local helper='!f() { test "$1" = get && printf "username=x-access-token\npassword=%s\n" "$GITHUB_TOKEN"; }; f'
	GIT_TERMINAL_PROMPT=0 \
		GIT_CONFIG_COUNT=1 \
		GIT_CONFIG_KEY_0="credential.https://github.com.helper" \
		GIT_CONFIG_VALUE_0="$helper" \
		GITHUB_TOKEN="$GITHUB_TOKEN_VALUE" \
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
	parse_repository
	if [[ -n "${GIT_REF:-}" ]] && ! is_valid_git_ref "$GIT_REF"; then
		die "$EX_CONFIG" "refusing GIT_REF '$GIT_REF': expected a branch, tag or commit sha"
	fi
	check_flag SKIP_PUSH
	check_flag REBUILD
	take_github_token
	clone_repository "$REPO_OWNER" "$REPO_NAME" "$PWD/$REPO_NAME" "${GIT_REF:-}"
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
