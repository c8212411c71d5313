#!/usr/bin/env bats
# make push-image STACK=<name> (tools/push_image.sh) with fake aws and docker on PATH: the
# repository comes from the stack's outputs, the git-sha tag is pushed, the ImageUri printed.

load test_helper

REPO_URI=123456789012.dkr.ecr.eu-west-2.amazonaws.com/batchcron-dev-imagerepository-abc123

setup() {
	ROOT=$(cd "$BATS_TEST_DIRNAME/../.." && pwd)
	STATE="$BATS_TEST_TMPDIR/state"
	mkdir -p "$STATE" "$BATS_TEST_TMPDIR/bin"
	: >"$STATE/calls.log"
	printf '%s\n' "$REPO_URI" >"$STATE/image_repository_uri"
	# aws: answers describe-stacks from $STATE and get-login-password; records calls and region.
	cat >"$BATS_TEST_TMPDIR/bin/aws" <<-'FAKE'
		#!/usr/bin/env bash
		printf 'aws %s\n' "$*" >>"$STATE/calls.log"
		printf 'AWS_PROFILE=%s AWS_REGION=%s AWS_DEFAULT_REGION=%s\n' "${AWS_PROFILE-<unset>}" \
			"${AWS_REGION-<unset>}" "${AWS_DEFAULT_REGION-<unset>}" >>"$STATE/aws_env.log"
		case "$1 $2" in
		"cloudformation describe-stacks") cat "$STATE/image_repository_uri" ;;
		"ecr get-login-password") echo ecr-password ;;
		esac
	FAKE
	# docker: records calls; `login` records what it read on stdin.
	cat >"$BATS_TEST_TMPDIR/bin/docker" <<-'FAKE'
		#!/usr/bin/env bash
		printf 'docker %s\n' "$*" >>"$STATE/calls.log"
		if [[ "$1" == login ]]; then cat >"$STATE/docker_login_stdin"; fi
	FAKE
	chmod +x "$BATS_TEST_TMPDIR/bin/aws" "$BATS_TEST_TMPDIR/bin/docker"
	export STATE PATH="$BATS_TEST_TMPDIR/bin:$PATH"
	unset AWS_PROFILE AWS_REGION AWS_DEFAULT_REGION AWS_DEFAULT_PROFILE
	export AWS_CONFIG_FILE="$BATS_TEST_TMPDIR/aws_config"
	: >"$AWS_CONFIG_FILE"
	SHA=$(git -C "$ROOT" rev-parse --short=12 HEAD)
}

@test "make push-image asks the stack for its repository, logs in, pushes the git sha and prints the ImageUri" {
	run make -s -C "$ROOT" push-image STACK=batchcron-dev
	[ "$status" -eq 0 ] || { echo "$output"; false; }

	grep -qx "aws cloudformation describe-stacks --stack-name batchcron-dev --query Stacks\[0\].Outputs\[?OutputKey=='ImageRepositoryUri'\].OutputValue --output text" "$STATE/calls.log"
	grep -qx "aws ecr get-login-password --region eu-west-2" "$STATE/calls.log"
	grep -qx "docker login --username AWS --password-stdin 123456789012.dkr.ecr.eu-west-2.amazonaws.com" "$STATE/calls.log"
	assert_equal "$(cat "$STATE/docker_login_stdin")" "ecr-password"
	grep -qx "docker build --platform linux/amd64 -t batchcron-batch:$SHA batch_image" "$STATE/calls.log"
	grep -qx "docker tag batchcron-batch:$SHA $REPO_URI:$SHA" "$STATE/calls.log"
	grep -qx "docker push $REPO_URI:$SHA" "$STATE/calls.log"
	assert_equal "${lines[-1]}" "ImageUri=$REPO_URI:$SHA"
}

@test "the profile's region is not overridden; a region is set only when nothing names one" {
	# Given a profile with its own region
	printf '[profile ops]\nregion = us-east-1\n' >"$AWS_CONFIG_FILE"
	AWS_PROFILE=ops run make -s -C "$ROOT" push-image STACK=batchcron-dev
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	# Then aws sees the profile and no region from the Makefile
	assert_equal "$(head -n 1 "$STATE/aws_env.log")" "AWS_PROFILE=ops AWS_REGION=<unset> AWS_DEFAULT_REGION=<unset>"

	# Given AWS_REGION set, it is left alone too
	: >"$STATE/aws_env.log"
	AWS_REGION=ap-south-1 run make -s -C "$ROOT" push-image STACK=batchcron-dev
	assert_equal "$(head -n 1 "$STATE/aws_env.log")" "AWS_PROFILE=<unset> AWS_REGION=ap-south-1 AWS_DEFAULT_REGION=<unset>"

	# Given nothing at all, the Makefile's default region is used
	: >"$STATE/aws_env.log"
	: >"$AWS_CONFIG_FILE"
	run make -s -C "$ROOT" push-image STACK=batchcron-dev
	assert_equal "$(head -n 1 "$STATE/aws_env.log")" "AWS_PROFILE=<unset> AWS_REGION=<unset> AWS_DEFAULT_REGION=eu-west-2"
}

@test "without STACK, nothing is built or pushed and the usage is printed" {
	run make -s -C "$ROOT" push-image
	[ "$status" -ne 0 ]
	[[ "$output" == *"usage: make push-image STACK=<stack name>"* ]]
	assert_equal "$(cat "$STATE/calls.log")" ""
}

@test "a stack without an ImageRepositoryUri output pushes nothing and says so" {
	echo None >"$STATE/image_repository_uri"
	run make -s -C "$ROOT" push-image STACK=other-stack
	[ "$status" -ne 0 ]
	[[ "$output" == *"stack other-stack has no ImageRepositoryUri output"* ]]
	refute grep -q '^docker push' "$STATE/calls.log"
}

@test "a latest tag is refused: ECR tags are immutable, a deploy names one image" {
	run make -s -C "$ROOT" push-image STACK=batchcron-dev IMAGE_TAG=latest
	[ "$status" -ne 0 ]
	[[ "$output" == *"not batchcron-batch:latest"* ]]
	refute grep -q '^docker push' "$STATE/calls.log"
}
