#!/usr/bin/env bats
# Static checks on batch_image/Dockerfile: what it copies, where it runs, what it leaves out.

load test_helper

setup() {
	DOCKERFILE="$BATCH_IMAGE_DIR/Dockerfile"
}

# The Dockerfile with continuation lines joined, one instruction per line, comments dropped.
instructions() {
	sed -e '/^[[:space:]]*#/d' "$DOCKERFILE" | sed -e ':a' -e '/\\$/N; s/\\\n//; ta'
}

# Sources of every COPY/ADD from the build context (not --from another stage).
copied_sources() {
	local line word
	local -a words
	while IFS= read -r line; do
		read -r -a words <<<"$line"
		[[ "${words[0]}" == COPY || "${words[0]}" == ADD ]] || continue
		[[ " ${words[*]} " != *" --from="* ]] || continue
		for word in "${words[@]:1:${#words[@]}-2}"; do
			[[ "$word" == --* ]] || echo "$word"
		done
	done < <(instructions)
}

# The last stage's instructions.
final_stage() {
	instructions | awk '/^FROM /{stage=""} {stage=stage $0 "\n"} END{printf "%s", stage}'
}

@test "every file the Dockerfile copies exists and is executable" {
	local sources
	sources=$(copied_sources)
	[ -n "$sources" ]
	local src
	while IFS= read -r src; do
		[ -f "$BATCH_IMAGE_DIR/$src" ] || { echo "missing: $src" >&2; return 1; }
		[ -x "$BATCH_IMAGE_DIR/$src" ] || { echo "not executable: $src" >&2; return 1; }
		if git -C "$BATCH_IMAGE_DIR" ls-files --error-unmatch "$src" >/dev/null 2>&1; then
			[[ "$(git -C "$BATCH_IMAGE_DIR" ls-files -s -- "$src")" == 100755* ]] ||
				{ echo "committed without the executable bit: $src" >&2; return 1; }
		fi
	done <<<"$sources"
}

@test "every script the entrypoint can run or source is copied into the image" {
	local sources needed
	sources=$(copied_sources)
	for needed in fetch_and_run.sh pipeline_run.sh builder_run.sh \
		$(grep -ho 'source "$BATCHCRON_BIN_DIR/[^"]*"' "$BATCH_IMAGE_DIR"/*.sh | sed 's|.*/||; s|"||' | sort -u); do
		grep -qx "$needed" <<<"$sources" || { echo "not copied: $needed" >&2; return 1; }
	done
}

@test "the entrypoint is the copied fetch_and_run.sh" {
	instructions | grep -qx 'ENTRYPOINT \["/opt/batchcron/bin/fetch_and_run.sh"\]'
	instructions | grep -q '^COPY .* /opt/batchcron/bin/$'
}

@test "every stage is built on pinned Debian bookworm-slim, never a moving tag" {
	instructions | grep -qx 'ARG DEBIAN_IMAGE=debian:bookworm-slim'
	refute grep -Eq '^FROM .*(stable|latest|sid|testing)' <<<"$(instructions)"
	refute grep -v '^FROM ${DEBIAN_IMAGE}' <<<"$(instructions | grep '^FROM ')"
}

@test "the final stage runs as a non-root user in a work directory" {
	local user
	user=$(final_stage | awk '$1 == "USER" {u=$2} END {print u}')
	[ -n "$user" ]
	[[ "${user%%:*}" != 0 && "${user%%:*}" != root ]]
	final_stage | grep -q '^WORKDIR /home/batch/work$'
	refute grep -qi 'sudo' <<<"$(final_stage)"
}

@test "apt runs non-interactively instead of piping yes" {
	final_stage | grep -q 'DEBIAN_FRONTEND=noninteractive'
	refute grep -Eq '(^|[;&(]|\s)yes \| *make' "$BATCH_IMAGE_DIR"/*.sh
}

@test "Python packages go to a venv on PATH" {
	final_stage | grep -q 'python3 -m venv "${VIRTUAL_ENV}"'
	final_stage | grep -q 'PATH=/opt/venv/bin:$PATH'
}

@test "no Docker engine is installed" {
	refute grep -Eiq 'docker-ce|docker\.io|containerd|get\.docker\.com|download\.docker\.com' <<<"$(instructions)"
}

@test "tippecanoe is built from a pinned release in its own stage" {
	instructions | grep -qx 'FROM ${DEBIAN_IMAGE} AS tippecanoe'
	instructions | grep -Eqx 'ARG TIPPECANOE_VERSION=[0-9]+\.[0-9]+\.[0-9]+'
	final_stage | grep -q '^COPY --from=tippecanoe '
	refute grep -q 'tippecanoe.tar.gz' <<<"$(final_stage)"
}

@test "the tools the makefiles need are installed" {
	local tool
	for tool in make git curl wget unzip time python3-venv sqlite3 libsqlite3-mod-spatialite gdal-bin build-essential; do
		final_stage | grep -Eq "(^| )$tool( |$)" || { echo "missing: $tool" >&2; return 1; }
	done
	final_stage | grep -q 'awscli-exe-linux-x86_64-${AWSCLI_VERSION}.zip'
	final_stage | grep -q 'RDS_CA_BUNDLE_URL'
}

@test "the Dockerfile is hadolint clean" {
	command -v hadolint >/dev/null || skip "hadolint is not on PATH (make shell-test puts it there)"
	run hadolint "$DOCKERFILE"
	[ "$status" -eq 0 ]
}

@test "the image is built for x86_64 only, the one architecture the template allows" {
	local root
	root="$(cd "$BATCH_IMAGE_DIR/.." && pwd)"
	# Every architecture-specific download is the x86_64 build...
	refute grep -Eiq 'aarch64|arm64|TARGETARCH' "$DOCKERFILE"
	# ...`make image` builds linux/amd64...
	grep -Eq -- '--platform linux/amd64' "$root/Makefile"
	# ...and CpuArchitecture cannot be set to anything else.
	grep -Eq '^    AllowedValues: \[X86_64\]$' "$root/template.yaml"
	refute grep -q 'ARM64' "$root/template.yaml"
}
