#!/usr/bin/env bats
# pipeline_run.sh: the collection pipeline's steps, their order, and what stops them.

load test_helper

setup() {
	use_fakes git make
	SCRIPT="$BATCH_IMAGE_DIR/pipeline_run.sh"
	export REPOSITORY=historic-england-collection
	JOBS=$(nproc)
}

@test "runs the original steps in order and pushes last" {
	run "$SCRIPT"

	[ "$status" -eq 0 ]
	assert_equal "$(make_calls)" "make makerules
make init
make fetch-s3
make -j$JOBS dataset
make push-dataset-s3"
}

@test "clones the repository shallowly from the digital-land organisation by default" {
	run "$SCRIPT"

	[ "$status" -eq 0 ]
	grep -qx 'git clone --quiet --depth 1 --no-tags -- https://github.com/digital-land/historic-england-collection.git '"$WORK_DIR"'/historic-england-collection' "$FAKE_STATE_DIR/calls.log"
}

@test "runs make inside the clone" {
	rm "$BATS_TEST_TMPDIR/bin/make"
	cat >"$BATS_TEST_TMPDIR/bin/make" <<-'FAKE'
		#!/usr/bin/env bash
		echo "make $* in $PWD" >>"$FAKE_STATE_DIR/calls.log"
	FAKE
	chmod +x "$BATS_TEST_TMPDIR/bin/make"

	run "$SCRIPT"

	[ "$status" -eq 0 ]
	grep -qx "make makerules in $WORK_DIR/historic-england-collection" "$FAKE_STATE_DIR/calls.log"
}

@test "GITHUB_ORG and owner/name choose the owner" {
	GITHUB_ORG=my-org run "$SCRIPT"
	[ "$status" -eq 0 ]
	grep -q 'https://github.com/my-org/historic-england-collection.git' "$FAKE_STATE_DIR/calls.log"

	REPOSITORY=other-org/some.repo_1 run "$SCRIPT"
	[ "$status" -eq 0 ]
	grep -q 'https://github.com/other-org/some.repo_1.git' "$FAKE_STATE_DIR/calls.log"
}

@test "REBUILD=true clobbers after fetch-s3 and before the dataset build" {
	REBUILD=true run "$SCRIPT"

	[ "$status" -eq 0 ]
	assert_equal "$(make_calls)" "make makerules
make init
make fetch-s3
make clobber
make clobber-today
make -j$JOBS dataset
make push-dataset-s3"
}

@test "REBUILD=false does not clobber" {
	REBUILD=false run "$SCRIPT"

	[ "$status" -eq 0 ]
	refute_called 'make clobber'
}

@test "a REBUILD that is neither true nor false is refused before cloning" {
	REBUILD=ture run "$SCRIPT"

	[ "$status" -eq 64 ]
	[[ "$output" == *"REBUILD must be true or false"* ]]
	refute_called git
	refute_called make
}

@test "SKIP_PUSH=true runs every step but the push" {
	SKIP_PUSH=true REBUILD=true run "$SCRIPT"

	[ "$status" -eq 0 ]
	refute_called 'make push'
	make_calls | grep -qx "make -j$JOBS dataset"
	[[ "$output" == *"SKIP_PUSH is set: skipping make push-dataset-s3"* ]]
}

@test "a failing dataset build stops the run with make's status and publishes nothing" {
	fake_on 'make -j* dataset' 'exit 2'

	run "$SCRIPT"

	[ "$status" -eq 2 ]
	refute_called 'make push'
	[[ "$output" == *"step failed with exit status 2: make -j$JOBS dataset"* ]]
}

@test "the first failing step stops every later step" {
	fake_on 'make init' 'exit 3'

	run "$SCRIPT"

	[ "$status" -eq 3 ]
	assert_equal "$(make_calls)" "make makerules
make init"
}

@test "a step killed by a signal exits 128+n (137 for SIGKILL) and skips the push" {
	fake_on 'make -j* dataset' 'kill KILL'

	run "$SCRIPT"

	[ "$status" -eq 137 ]
	refute_called 'make push'
}

@test "a failed clone exits with git's status before any make step" {
	fake_on 'git clone*' 'exit 128'

	run "$SCRIPT"

	[ "$status" -eq 128 ]
	refute_called make
}

@test "unsafe repository names are refused with 64 before any git call" {
	local name
	for name in "" "../etc" "-rf" ".hidden" "a b" 'x;touch pwned' "owner/name/extra" \
		"own..er/x" "x/" "/x" "a/-b" 'x$(id)' $'x\ny'; do
		REPOSITORY=$name run "$SCRIPT"
		[ "$status" -eq 64 ] || { echo "accepted: '$name'" >&2; return 1; }
	done
	refute_called git
	refute_called make
	[ ! -e pwned ]
}

@test "an unsafe GITHUB_ORG is refused with 64" {
	GITHUB_ORG="--upload-pack=touch pwned" run "$SCRIPT"

	[ "$status" -eq 64 ]
	refute_called git
}

@test "GIT_REF with a commit sha fetches and checks out exactly that commit" {
	local sha=89abcdef0123456789abcdef0123456789abcdef

	GIT_REF=$sha run "$SCRIPT"

	[ "$status" -eq 0 ]
	local clone="$WORK_DIR/historic-england-collection"
	grep -qx "git init --quiet -- $clone" "$FAKE_STATE_DIR/calls.log"
	grep -qx "git -C $clone fetch --quiet --depth 1 --no-tags origin $sha" "$FAKE_STATE_DIR/calls.log"
	grep -qx "git -C $clone checkout --quiet --detach FETCH_HEAD" "$FAKE_STATE_DIR/calls.log"
}

@test "GIT_REF with a branch or tag clones that branch or tag shallowly" {
	GIT_REF=release/2024-01 run "$SCRIPT"

	[ "$status" -eq 0 ]
	grep -q '^git clone --quiet --depth 1 --no-tags --branch release/2024-01 -- https://github.com/digital-land/historic-england-collection.git ' "$FAKE_STATE_DIR/calls.log"
}

@test "a GIT_REF git could read as an option or refspec is refused with 64" {
	local ref
	for ref in "--upload-pack=touch pwned" "main:refs/heads/x" "a..b" "a b" "refs/heads/x.lock" "/x" "x/"; do
		GIT_REF=$ref run "$SCRIPT"
		[ "$status" -eq 64 ] || { echo "accepted: '$ref'" >&2; return 1; }
	done
	refute_called git
}

@test "GITHUB_TOKEN reaches git only through the credential helper" {
	local token=ghp_s3cr3tTOKENvalue1234567890
	GITHUB_TOKEN=$token GIT_REF=0123456789abcdef0123456789abcdef01234567 run "$SCRIPT"

	[ "$status" -eq 0 ]
	# git is offered the token when it asks the helper, for github.com only ...
	grep -qx "password=$token" "$FAKE_STATE_DIR/credential.out"
	grep -qx "credential.https://github.com.helper" "$FAKE_STATE_DIR/credential.key"
	# ... and it is in no command line, no output, and not in make's environment.
	refute grep -q "$token" "$FAKE_STATE_DIR/calls.log"
	[[ "$output" != *"$token"* ]]
	grep -q "^make" "$FAKE_STATE_DIR/env.log"
	refute grep -q "^make.*$token" "$FAKE_STATE_DIR/env.log"
}

@test "sourcing the script defines its functions without running anything" {
	run bash -c "source '$SCRIPT' && declare -F main >/dev/null && echo sourced"

	[ "$status" -eq 0 ]
	[ "$output" = sourced ]
	refute_called git
}

# Real git against a local "github.com", to prove the clone really lands on the ref asked for.
make_origin() {
	export HOME="$BATS_TEST_TMPDIR/home" GIT_CONFIG_NOSYSTEM=1
	mkdir -p "$HOME"
	git config --global url."file://$BATS_TEST_TMPDIR/remote/".insteadOf https://github.com/
	git config --global uploadpack.allowAnySHA1InWant true
	git config --global protocol.file.allow always
	git config --global user.email test@example.com
	git config --global user.name test
	git config --global init.defaultBranch main
	local src="$BATS_TEST_TMPDIR/src"
	git init -q "$src"
	git -C "$src" commit -q --allow-empty -m first
	FIRST=$(git -C "$src" rev-parse HEAD)
	git -C "$src" checkout -q -b feature
	git -C "$src" commit -q --allow-empty -m on-feature
	FEATURE=$(git -C "$src" rev-parse HEAD)
	git -C "$src" checkout -q main
	git -C "$src" commit -q --allow-empty -m second
	SECOND=$(git -C "$src" rev-parse HEAD)
	git clone -q --bare "$src" "$BATS_TEST_TMPDIR/remote/digital-land/historic-england-collection.git"
}

@test "with real git, GIT_REF checks out exactly the commit or branch asked for" {
	rm "$BATS_TEST_TMPDIR/bin/git"
	make_origin
	local clone="$WORK_DIR/historic-england-collection"

	GIT_REF=$FIRST run "$SCRIPT"
	[ "$status" -eq 0 ]
	assert_equal "$(git -C "$clone" rev-parse HEAD)" "$FIRST"
	[ "$(git -C "$clone" rev-list --count HEAD)" -eq 1 ]

	rm -rf "$clone"
	GIT_REF=feature run "$SCRIPT"
	[ "$status" -eq 0 ]
	assert_equal "$(git -C "$clone" rev-parse HEAD)" "$FEATURE"

	rm -rf "$clone"
	run "$SCRIPT"
	[ "$status" -eq 0 ]
	assert_equal "$(git -C "$clone" rev-parse HEAD)" "$SECOND"
	[ "$(git -C "$clone" rev-list --count HEAD)" -eq 1 ]
}

@test "run directly with GITHUB_TOKEN, no process running a step has it in its environment" {
	local token
	token="ghp_direct$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')"
	printf '%s\n' "$token" >"$FAKE_STATE_DIR/needle"
	make_scanning_proc
	export TMPDIR="$BATS_TEST_TMPDIR/tmp" BATCHCRON_PROC_MARKER="$RANDOM$RANDOM"
	mkdir -p "$TMPDIR"

	GITHUB_TOKEN=$token run "$SCRIPT"

	[ "$status" -eq 0 ] || { echo "$output"; false; }
	grep -qx "password=$token" "$FAKE_STATE_DIR/credential.out"
	[ "$(sort -u "$FAKE_STATE_DIR/scanned" | wc -l)" -ge 2 ]
	[ ! -s "$FAKE_STATE_DIR/leaks" ] || { cat "$FAKE_STATE_DIR/leaks"; false; }
	refute ls "$TMPDIR"/batchcron-token.*
}

@test "a run refused before the checkout leaves no token file behind" {
	export TMPDIR="$BATS_TEST_TMPDIR/tmp"
	mkdir -p "$TMPDIR"

	GITHUB_TOKEN=ghp_refusedTOKEN REPOSITORY='../etc' run "$SCRIPT"

	[ "$status" -eq 64 ]
	refute ls "$TMPDIR"/batchcron-token.*
}
