#!/usr/bin/env bats
# make deploy / deploy-guided with a fake sam (SAM=...) and fake aws / python3.12 on PATH:
# the preflight before the build, samconfig's overrides plus the command line's, the config
# environment, and the region left to the AWS profile.

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
	FAKE_BIN="$BATS_TEST_TMPDIR/bin"
	mkdir -p "$FAKE_BIN"
	# A fake aws: FAKE_AWS_STS=fail (no credentials), FAKE_AWS_QUOTA / FAKE_AWS_UNRESERVED
	# (Lambda concurrency), FAKE_AWS_STACK=missing|unpushed|pushed, FAKE_AWS_IMAGE=missing.
	cat >"$FAKE_BIN/aws" <<-'FAKE'
		#!/usr/bin/env bash
		printf 'aws' >>"$STATE/calls.log"
		printf ' [%s]' "$@" >>"$STATE/calls.log"
		printf '\n' >>"$STATE/calls.log"
		case "$1 $2" in
		"--version ") echo "aws-cli/2.17.0 Python/3.11.9 Linux/6.1 exe/x86_64" ;;
		"configure get") echo "eu-west-2" ;;
		"sts get-caller-identity")
			if [ "${FAKE_AWS_STS:-ok}" = fail ]; then
				echo "Unable to locate credentials. You can configure credentials by running \"aws configure\"." >&2
				exit 253
			fi
			echo '{"Account": "123456789012", "Arn": "arn:aws:iam::123456789012:user/dev"}' ;;
		"lambda get-account-settings")
			echo "{\"AccountLimit\": {\"ConcurrentExecutions\": ${FAKE_AWS_QUOTA:-1000}, \"UnreservedConcurrentExecutions\": ${FAKE_AWS_UNRESERVED:-1000}}}" ;;
		"cloudformation describe-stacks")
			case "${FAKE_AWS_STACK:-missing}" in
			missing) echo "An error occurred (ValidationError) when calling the DescribeStacks operation: Stack with id $4 does not exist" >&2; exit 254 ;;
			unpushed) echo '{"Stacks": [{"Outputs": [{"OutputKey": "ImageRepositoryUri", "OutputValue": "123456789012.dkr.ecr.eu-west-2.amazonaws.com/repo"}], "Parameters": [{"ParameterKey": "ImageUri", "ParameterValue": "unpushed"}]}]}' ;;
			pushed) echo '{"Stacks": [{"Outputs": [{"OutputKey": "ImageRepositoryUri", "OutputValue": "123456789012.dkr.ecr.eu-west-2.amazonaws.com/repo"}], "Parameters": [{"ParameterKey": "ImageUri", "ParameterValue": "123456789012.dkr.ecr.eu-west-2.amazonaws.com/repo:0123456789ab"}]}]}' ;;
			esac ;;
		"cloudformation describe-stack-resource") echo "Stack does not exist" >&2; exit 254 ;;
		"ecr describe-images")
			if [ "${FAKE_AWS_IMAGE:-present}" = missing ]; then
				echo "An error occurred (ImageNotFoundException) when calling the DescribeImages operation: The image requested does not exist" >&2
				exit 254
			fi
			echo '{"imageDetails": [{}]}' ;;
		*) echo "fake aws: unexpected $*" >&2; exit 2 ;;
		esac
	FAKE
	printf '#!/usr/bin/env bash\nexit 0\n' >"$FAKE_BIN/python3.12"
	chmod +x "$FAKE_BIN/aws" "$FAKE_BIN/python3.12"
	export PATH="$FAKE_BIN:$PATH"
	# Real VPC ids instead of samconfig's placeholders.
	VPC="Subnets=subnet-0123456789abcdef0 SecurityGroupIds=sg-0123456789abcdef0"
	export STATE
	unset AWS_PROFILE AWS_REGION AWS_DEFAULT_REGION
	export AWS_CONFIG_FILE="$BATS_TEST_TMPDIR/aws_config"
	: >"$AWS_CONFIG_FILE"
}

@test "make deploy IMAGE_URI=... passes samconfig's overrides with the image on top" {
	run make -s -C "$ROOT" deploy SAM="$FAKE_SAM" OVERRIDES="$VPC" IMAGE_URI=123456789012.dkr.ecr.eu-west-2.amazonaws.com/repo:0123456789ab
	[ "$status" -eq 0 ] || { echo "$output"; false; }

	[[ "$output" == *"preflight passed"* ]]
	assert_equal "$(grep '^sam' "$STATE/calls.log" | sed -n 1p)" "sam [build]"
	local deploy
	deploy=$(grep '^sam' "$STATE/calls.log" | sed -n 2p)
	[[ "$deploy" == "sam [deploy] [--config-env] [default] [--parameter-overrides] [Stage=dev] [SchedulesEnabled=false] "* ]]
	[[ "$deploy" == *" [Subnets=subnet-0123456789abcdef0] "* ]]
	[[ "$deploy" == *" [ImageUri=123456789012.dkr.ecr.eu-west-2.amazonaws.com/repo:0123456789ab]" ]]
}

@test "prod's first deploy turns its schedules off with OVERRIDES" {
	run make -s -C "$ROOT" deploy SAM="$FAKE_SAM" CONFIG_ENV=prod OVERRIDES="SchedulesEnabled=false $VPC"
	[ "$status" -eq 0 ] || { echo "$output"; false; }

	local deploy
	deploy=$(grep '^sam' "$STATE/calls.log" | sed -n 2p)
	[[ "$deploy" == "sam [deploy] [--config-env] [prod] [--parameter-overrides] [Stage=prod] [SchedulesEnabled=false] "* ]]
	refute grep -q 'ImageUri=' "$STATE/calls.log"
}

@test "make deploy-guided without a terminal refuses samconfig's placeholders, before building" {
	run make -s -C "$ROOT" deploy-guided SAM="$FAKE_SAM" </dev/null
	[ "$status" -ne 0 ]
	[[ "$output" == *"asks for Subnets and SecurityGroupIds on a terminal"* ]]
	refute grep -q '^sam' "$STATE/calls.log"
	refute grep -q -- '--guided' "$STATE/calls.log"
}

@test "the deploy says which region it uses and leaves a profile's region alone" {
	printf '[default]\nregion = ap-southeast-2\n' >"$AWS_CONFIG_FILE"
	run make -s -C "$ROOT" deploy SAM="$FAKE_SAM" OVERRIDES="$VPC"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[[ "$output" == *"to the AWS profile's region"* ]]

	: >"$AWS_CONFIG_FILE"
	run make -s -C "$ROOT" deploy SAM="$FAKE_SAM" OVERRIDES="$VPC"
	[[ "$output" == *"to eu-west-2"* ]]
}

@test "make deploy without credentials fails in seconds, before building, naming the fix" {
	export FAKE_AWS_STS=fail
	local started=$SECONDS
	run make -s -C "$ROOT" deploy SAM="$FAKE_SAM" OVERRIDES="$VPC"
	[ "$status" -ne 0 ]
	[ $((SECONDS - started)) -lt 10 ]
	[[ "$output" == *"FAIL  credentials"*"Unable to locate credentials"*"aws configure"* ]]
	[[ "$output" == *"preflight failed (credentials)"* ]]
	refute grep -q '^sam' "$STATE/calls.log"
}

@test "make deploy with samconfig's subnet-REPLACE_ME names the parameter" {
	run make -s -C "$ROOT" deploy SAM="$FAKE_SAM"
	[ "$status" -ne 0 ]
	[[ "$output" == *"FAIL  placeholders"*"Subnets=subnet-REPLACE_ME"*"SecurityGroupIds=sg-REPLACE_ME"* ]]
	refute grep -q '^sam' "$STATE/calls.log"
}

@test "make deploy without the AWS CLI or python3.12 names how to install them" {
	rm "$FAKE_BIN/aws" "$FAKE_BIN/python3.12"
	printf '#!/usr/bin/env bash\nexit 1\n' >"$FAKE_BIN/python3.12"
	chmod +x "$FAKE_BIN/python3.12"
	run env PATH="$FAKE_BIN:$(dirname "$(command -v make)"):/usr/bin:/bin" make -s -C "$ROOT" deploy SAM="$FAKE_SAM" OVERRIDES="$VPC"
	[ "$status" -ne 0 ]
	if ! command -v aws >/dev/null; then [[ "$output" == *"FAIL  aws cli"*"install AWS CLI v2"* ]]; fi
	[[ "$output" == *"FAIL  python3.12"*"sam build"* ]]
	refute grep -q '^sam' "$STATE/calls.log"
}

@test "schedules on with no image pushed: run make push-image first" {
	export FAKE_AWS_STACK=unpushed
	run make -s -C "$ROOT" deploy SAM="$FAKE_SAM" CONFIG_ENV=prod OVERRIDES="$VPC"
	[ "$status" -ne 0 ]
	[[ "$output" == *"FAIL  image"*"make push-image STACK=batchcron-prod"* ]]

	export FAKE_AWS_STACK=missing
	run make -s -C "$ROOT" deploy SAM="$FAKE_SAM" CONFIG_ENV=prod OVERRIDES="$VPC"
	[[ "$output" == *"FAIL  image"*"does not exist yet"*"SchedulesEnabled=false"* ]]

	export FAKE_AWS_STACK=pushed FAKE_AWS_IMAGE=missing
	run make -s -C "$ROOT" deploy SAM="$FAKE_SAM" CONFIG_ENV=prod OVERRIDES="$VPC"
	[[ "$output" == *"FAIL  image"*"repo:0123456789ab is not in the stack's repository"* ]]

	export FAKE_AWS_IMAGE=present
	run make -s -C "$ROOT" deploy SAM="$FAKE_SAM" CONFIG_ENV=prod OVERRIDES="$VPC"
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[[ "$output" == *"ok    image"* ]]
}

@test "an account at Lambda concurrency quota 10 cannot reserve the webhook's 10" {
	export FAKE_AWS_QUOTA=10 FAKE_AWS_UNRESERVED=10
	run make -s -C "$ROOT" deploy SAM="$FAKE_SAM" OVERRIDES="$VPC"
	[ "$status" -ne 0 ]
	[[ "$output" == *"FAIL  concurrency"*"quota is 10"*"Service Quotas"* ]]

	export FAKE_AWS_QUOTA=200 FAKE_AWS_UNRESERVED=200
	run make -s -C "$ROOT" deploy SAM="$FAKE_SAM" OVERRIDES="$VPC WebhookReservedConcurrency=150"
	[[ "$output" == *"FAIL  concurrency"*'OVERRIDES="WebhookReservedConcurrency=100"'* ]]
}

@test "batchcron preflight runs alone and exits 0 only when every check passes" {
	run "$ROOT/.venv/bin/batchcron" preflight --samconfig "$ROOT/samconfig.toml" --template "$ROOT/template.yaml" \
		Subnets=subnet-0123456789abcdef0 SecurityGroupIds=sg-0123456789abcdef0
	[ "$status" -eq 0 ] || { echo "$output"; false; }
	[[ "$output" == *"ok    credentials   account 123456789012"* ]]
	[[ "$output" == *"skip  image         SchedulesEnabled is not true"* ]]
	[[ "$output" == *"preflight passed" ]]
}
