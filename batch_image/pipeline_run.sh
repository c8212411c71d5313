#!/usr/bin/env bash
# Collection pipeline: clone REPOSITORY and build and publish its datasets with its makerules.
# Same steps as digital-land's original pipeline_run.sh, but the first failure stops the run.
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
	run_step make fetch-s3
	if flag_enabled REBUILD; then
		run_step make clobber
		run_step make clobber-today
	fi
	run_step make -j"$(nproc)" dataset
	push_step make push-dataset-s3
	log "pipeline finished for ${REPO_OWNER}/${REPO_NAME}"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
	main "$@"
fi
