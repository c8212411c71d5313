#!/usr/bin/env bash
# Push a built batch image to a deployed stack's ECR repository (its ImageRepositoryUri
# output) and print the ImageUri to deploy with. Region and profile come from the usual AWS
# variables (AWS_PROFILE, AWS_REGION, AWS_DEFAULT_REGION) or the profile's own region.
#
#   tools/push_image.sh STACK LOCAL_IMAGE:TAG
set -Eeuo pipefail

die() {
	echo "push-image: $*" >&2
	exit 1
}

# The stack's ImageRepositoryUri output: <account>.dkr.ecr.<region>.amazonaws.com/<name>.
repository_uri() {
	local stack=$1 uri
	uri=$(aws cloudformation describe-stacks --stack-name "$stack" \
		--query "Stacks[0].Outputs[?OutputKey=='ImageRepositoryUri'].OutputValue" \
		--output text) || die "cannot read stack $stack (check the stack name, AWS_PROFILE and AWS_REGION)"
	[[ -n "$uri" && "$uri" != None ]] || die "stack $stack has no ImageRepositoryUri output: is it a batchcron stack?"
	[[ "$uri" =~ ^[0-9]{12}\.dkr\.ecr\.[a-z0-9-]+\.amazonaws\.com(\.cn)?/[a-z0-9._/-]+$ ]] ||
		die "unexpected ImageRepositoryUri: $uri"
	printf '%s\n' "$uri"
}

main() {
	[[ $# -eq 2 ]] || die "usage: $0 STACK LOCAL_IMAGE:TAG"
	local stack=$1 image=$2 uri registry region tag
	tag=${image##*:}
	[[ "$image" == *:* && -n "$tag" && "$tag" != latest ]] ||
		die "push a versioned tag (the git sha), not ${image}: tags are immutable in ECR"
	uri=$(repository_uri "$stack")
	registry=${uri%%/*}
	region=$(cut -d. -f4 <<<"$registry")
	# The registry's own region: ECR tokens are per region, whatever the profile's default.
	aws ecr get-login-password --region "$region" |
		docker login --username AWS --password-stdin "$registry" >/dev/null
	docker tag "$image" "$uri:$tag"
	docker push "$uri:$tag"
	echo "pushed $uri:$tag"
	echo "deploy it with: make deploy IMAGE_URI=$uri:$tag"
	echo "ImageUri=$uri:$tag"
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
	main "$@"
fi
