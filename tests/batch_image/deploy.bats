#!/usr/bin/env bats
# make deploy / deploy-guided with a fake sam (SAM=...): samconfig's overrides plus the command
# line's, the config environment, and the region left to the AWS profile.

load test_helper

setup() {
	ROOT=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	STATE="$BATS_TEST_TMPDIR/state"
	mkdir -p "$STATE"
	FAKE_SAM="$BATS_TEST_TMPDIR/sam"
	cat >"$FAKE_SAM" <<-'FAKE'
		#!/usr/bin/env bash
		printf 'sam' >>"$STATE/calls.log"
		printf ' [%s]' "$@" >>"$STATE/calls.log"
		printf '\n' >>"$STATE/calls.log"
	FAKE
	chmod +x "$FAKE_SAM"
	export STATE
	unset AWS_PROFILE AWS_REGION AWS_DEFAULT_REGION
	export AWS_CONFIG_FILE="$BATS_TEST_TMPDIR/aws_config"
	: >"$AWS_CONFIG_FILE"
}

@test "make deploy IMAGE_URI=... passes samconfig's overrides with the image on top" {
	run make -s -C "$ROOT" deploy SAM="$FAKE_SAM" IMAGE_URI=123456789012.dkr.ecr.eu-west-2.amazonaws.com/repo:0123456789ab
	[ "$status" -eq 0 ] || { echo "$output"; false; }

	assert_equal "$(sed -n 1p "$STATE/calls.log")" "sam [build]"
	local deploy
	deploy=$(sed -n 2p "$STATE/calls.log")
	[[ "$deploy" == "sam [deploy] [--config-env] [default] [--parameter-overrides] [Stage=dev] [SchedulesEnabled=false] "* ]]
	[[ "$deploy" == *" [Subnets=subnet-REPLACE_ME] "* ]]
	[[ "$deploy" == *" [ImageUri=123456789012.dkr.ecr.eu-west-2.amazonaws.com/repo:0123456789ab]" ]]
}

@test "prod's first deploy turns its schedules off with OVERRIDES" {
	run make -s -C "$ROOT" deploy SAM="$FAKE_SAM" CONFIG_ENV=prod OVERRIDES="SchedulesEnabled=false"
	[ "$status" -eq 0 ] || { echo "$output"; false; }

	local deploy
	deploy=$(sed -n 2p "$STATE/calls.log")
	[[ "$deploy" == "sam [deploy] [--config-env] [prod] [--parameter-overrides] [Stage=prod] [SchedulesEnabled=false] "* ]]
	refute grep -q 'ImageUri=' "$STATE/calls.log"
}

@test "make deploy-guided runs sam deploy --guided" {
	run make -s -C "$ROOT" deploy-guided SAM="$FAKE_SAM"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	assert_equal "$(sed -n 2p "$STATE/calls.log")" "sam [deploy] [--guided] [--config-env] [default]"
}

@test "the deploy says which region it uses and leaves a profile's region alone" {
	printf '[default]\nregion = ap-southeast-2\n' >"$AWS_CONFIG_FILE"
	run make -s -C "$ROOT" deploy SAM="$FAKE_SAM"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[[ "$output" == *"to the AWS profile's region"* ]]

	: >"$AWS_CONFIG_FILE"
	run make -s -C "$ROOT" deploy SAM="$FAKE_SAM"
	[[ "$output" == *"to eu-west-2"* ]]
}
