#!/usr/bin/env bash
# Builder: clone REPOSITORY, rebuild it from clean and publish what it builds.
# Same steps as digital-land's original builder_run.sh, but the first failure stops the run.
set -Eeuo pipefail

BATCHCRON_BIN_DIR=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source-path=SCRIPTDIR source=batchcron_lib.sh
source "$BATCHCRON_BIN_DIR/batchcron_lib.sh"

main() {
	hide_github_token "$0" "$@"
	trap 'on_step_error $?' ERR
	prepare_checkout
	run_step make makerules
	run_step make init
	run_step make clobber
	run_step make
	push_step make push
	log "builder finished for ${REPO_OWNER}/${REPO_NAME}"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
	main "$@"
fi
