#!/usr/bin/env bash
# CI: builds the image twice and checks both builds give one digest, prints its size, then runs three
# commands inside it the way a container runtime would (the image's user, environment and entrypoint from
# its config; private mount, PID and network namespaces; chroot into the unpacked image):
# `perseus --version`, `perseus plan` on a bundled profile, and `perseus agent` against the fake NVML
# library for a few seconds. Needs root, mmdebstrap, buildah, unshare, cc. Exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$(date +%s)
out=out/ci-image
if [ "${PERSEUS_IMAGE_REUSE:-0}" != 1 ]; then
  rm -rf "$out"
  bash scripts/build-image.sh "$out/a"
  bash scripts/build-image.sh "$out/b"
fi
first=$(cat "$out/a/digest")
second=$(cat "$out/b/digest")
echo "image: first build  $first"
echo "image: second build $second"
if [ "$first" != "$second" ]; then
  echo "image: FAILED: two builds of one commit gave different digests" >&2
  exit 1
fi

work=$(mktemp -d /tmp/perseus-image-run-XXXXXX)
storage=(--storage-driver vfs --root "$work/storage" --runroot "$work/run")
cleanup() {
  buildah "${storage[@]}" rm --all >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
ctr=$(buildah "${storage[@]}" from --quiet "oci-archive:$out/a/perseus-operator.oci.tar")
root=$(buildah "${storage[@]}" mount "$ctr")
echo "image: $(du -sm "$root" | cut -f1) MiB unpacked, $(( $(stat -c %s "$out/a/perseus-operator.oci.tar") / 1048576 )) MiB archive"

# The runtime's part: user, environment and entrypoint from the image config.
config=$(buildah "${storage[@]}" inspect "$ctr")
field() { node -e 'const c=JSON.parse(process.argv[1]).OCIv1.config;const v=c[process.argv[2]];console.log(Array.isArray(v)?v.join("\n"):(v??""))' "$config" "$1"; }
user=$(field User)
mapfile -t env < <(field Env)
mapfile -t entrypoint < <(field Entrypoint)
echo "image: user $user, entrypoint ${entrypoint[*]}, env ${env[*]}"
[ "$user" = "65532:65532" ] || { echo "image: FAILED: runs as '$user', not non-root 65532:65532" >&2; exit 1; }
unshare_bin=$(command -v unshare)
chroot_bin=$(command -v chroot)
# prefix: a command run before the runtime (timeout), extra_env: variables added to the image's.
prefix=()
extra_env=()
run_in_image() {
  "${prefix[@]}" env -i "${env[@]}" "${extra_env[@]}" "$unshare_bin" --mount --pid --fork --kill-child=SIGTERM --net \
    "$chroot_bin" --userspec="$user" "$root" "${entrypoint[@]}" "$@"
}

echo "image: perseus --version"
version=$(run_in_image --version)
echo "  $version"
[ "$version" = "perseus $(node -p "require('./package.json').version")" ] || { echo "image: FAILED: --version printed '$version'" >&2; exit 1; }

echo "image: perseus plan on the bundled GPT-3 A100 profile"
plan=$(run_in_image plan --profile /app/data/perseus-profiles/stage_profile/gpt3-175b+a100_sxm_bf16.csv --stages 8 --microbatches 12)
printf '%s\n' "$plan" | tail -n 3 | sed 's/^/  /'
printf '%s\n' "$plan" | grep -q 'Savings at the target' || { echo "image: FAILED: perseus plan printed no savings" >&2; exit 1; }

echo "image: perseus agent against the fake NVML library for 5 s"
fake="$root/tmp/fake-nvml"
mkdir -p "$fake"
cc -shared -fPIC -O2 -o "$fake/libnvidia-ml.so.1" test/fixtures/fake-nvml/fake_nvml.c
printf 'gpu_count=2\ngraphics_clocks=1410,1200,1005\nmemory_clocks=1593\nlog=/tmp/fake-nvml/calls.log\n' > "$fake/fake-nvml.conf"
: > "$fake/calls.log"
echo '[]' > "$fake/ranks.json"
chown -R 65532:65532 "$fake"
extra_env=(FAKE_NVML_CONFIG=/tmp/fake-nvml/fake-nvml.conf)
set +e
prefix=(timeout -s TERM 5)
agent_log=$(run_in_image agent --nvml-library /tmp/fake-nvml/libnvidia-ml.so.1 --ranks /tmp/fake-nvml/ranks.json --socket /tmp/fake-nvml/agent.sock --metrics-port 0 --nice=0 --node-name image-check 2>&1)
status=$?
set -e
printf '%s\n' "$agent_log" | tail -n 4 | sed 's/^/  /'
if [ "$status" -ne 124 ] && [ "$status" -ne 0 ]; then echo "image: FAILED: the agent exited with $status" >&2; exit 1; fi
printf '%s\n' "$agent_log" | grep -q 'Serving the training API' || { echo "image: FAILED: the agent did not start serving" >&2; exit 1; }
printf '%s\n' "$agent_log" | grep -q 'GPU-' || { echo "image: FAILED: the agent listed no GPU of the fake NVML library" >&2; exit 1; }
echo "image: checks passed in $(( $(date +%s) - started )) s"
