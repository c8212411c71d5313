#!/usr/bin/env bats
# builder_run.sh: the builder's steps, their order, and what stops them.

load test_helper

setup() {
	use_fakes git make
	SCRIPT="$BATCH_IMAGE_DIR/builder_run.sh"
	export REPOSITORY=entity-builder
}

@test "runs the original steps in order and pushes last" {
	run "$SCRIPT"

	[ "$status" -eq 0 ]
	grep -q '^git clone --quiet --depth 1 --no-tags -- https://github.com/digital-land/entity-builder.git ' "$FAKE_STATE_DIR/calls.log"
	assert_equal "$(make_calls)" "make makerules
make init
make clobber
make
make push"
}

@test "SKIP_PUSH=true builds but does not push" {
	SKIP_PUSH=true run "$SCRIPT"

	[ "$status" -eq 0 ]
	assert_equal "$(make_calls)" "make makerules
make init
make clobber
make"
	[[ "$output" == *"SKIP_PUSH is set: skipping make push"* ]]
}

@test "a failing build stops the run with its status and publishes nothing" {
	fake_on 'make' 'exit 1'

	run "$SCRIPT"

	[ "$status" -eq 1 ]
	refute_called 'make push'
}

@test "a failing clobber stops the build before it starts" {
	fake_on 'make clobber' 'exit 3'

	run "$SCRIPT"

	[ "$status" -eq 3 ]
	assert_equal "$(make_calls)" "make makerules
make init
make clobber"
}

@test "a build killed by SIGKILL exits 137 and publishes nothing" {
	fake_on 'make' 'kill KILL'

	run "$SCRIPT"

	[ "$status" -eq 137 ]
	refute_called 'make push'
}

@test "an unsafe repository name is refused with 64 before any git call" {
	REPOSITORY='../../etc/passwd' run "$SCRIPT"

	[ "$status" -eq 64 ]
	refute_called git
}

@test "an invalid SKIP_PUSH is refused rather than read as false" {
	SKIP_PUSH=yes-please run "$SCRIPT"

	[ "$status" -eq 64 ]
	refute_called git
}

@test "GIT_REF is checked out" {
	GIT_REF=v1.2.0 run "$SCRIPT"

	[ "$status" -eq 0 ]
	grep -q '^git clone --quiet --depth 1 --no-tags --branch v1.2.0 -- ' "$FAKE_STATE_DIR/calls.log"
}

@test "GITHUB_TOKEN is in no command line or output" {
	local token=ghp_builderTOKEN0987654321
	GITHUB_TOKEN=$token run "$SCRIPT"

	[ "$status" -eq 0 ]
	grep -qx "password=$token" "$FAKE_STATE_DIR/credential.out"
	refute grep -q "$token" "$FAKE_STATE_DIR/calls.log"
	[[ "$output" != *"$token"* ]]
}

@test "sourcing the script defines its functions without running anything" {
	run bash -c "source '$SCRIPT' && declare -F main >/dev/null && echo sourced"

	[ "$status" -eq 0 ]
	[ "$output" = sourced ]
	refute_called git
}
