#!/usr/bin/env bash
# Builds partflow's image for every architecture in IMAGE_ARCHES from the binaries `make
# image/binaries` cross-compiled into IMAGE_DIR/<arch>/, with buildah and its own storage
# under IMAGE_DIR (nothing touches the machine's container storage, no registry), and writes
# one OCI archive holding an image index of all of them: IMAGE_DIR/IMAGE-VERSION.oci.tar,
# tagged IMAGE:VERSION. No RUN steps, so no emulation and no container is ever started.
set -euo pipefail
: "${IMAGE:?}" "${VERSION:?}" "${REVISION:?}" "${BUILD_DATE:?}" "${IMAGE_DIR:?}" "${IMAGE_ARCHES:?}"
cd "$(dirname "${BASH_SOURCE[0]}")/../.."

ctx="$IMAGE_DIR/context"
rm -rf "$ctx"
mkdir -p "$ctx/etc/ssl/certs"
ca=/etc/ssl/certs/ca-certificates.crt
[ -s "$ca" ] || { echo "build.sh: $ca is missing: apt-get install ca-certificates" >&2; exit 1; }
cp "$ca" "$ctx/etc/ssl/certs/"
cp deploy/image/passwd deploy/image/group "$ctx/etc/"
for arch in $IMAGE_ARCHES; do
	mkdir -p "$ctx/$arch"
	cp "$IMAGE_DIR/$arch/enqueuer" "$IMAGE_DIR/$arch/worker" "$IMAGE_DIR/$arch/monitor" "$ctx/$arch/"
done

store=(--root "$IMAGE_DIR/storage" --runroot "$IMAGE_DIR/run" --storage-driver vfs)
ref="localhost/$IMAGE:$VERSION"
archive="$IMAGE_DIR/$IMAGE-$VERSION.oci.tar"
buildah "${store[@]}" manifest rm "$ref" >/dev/null 2>&1 || true
buildah "${store[@]}" manifest create "$ref" >/dev/null
for arch in $IMAGE_ARCHES; do
	# --timestamp pins file and history times to the commit's, so the layers of one commit
	# are the same whenever it is built.
	buildah "${store[@]}" build --quiet --platform "linux/$arch" --manifest "$ref" \
		--timestamp "$(date -u -d "$BUILD_DATE" +%s 2>/dev/null || echo 0)" \
		--build-arg VERSION="$VERSION" --build-arg REVISION="$REVISION" --build-arg BUILD_DATE="$BUILD_DATE" \
		-f Dockerfile "$ctx" >/dev/null
done
rm -f "$IMAGE_DIR/$IMAGE"-*.oci.tar # one archive: the latest build
buildah "${store[@]}" manifest push --quiet --all "$ref" "oci-archive:$archive:$IMAGE:$VERSION"
# The per-architecture images stay in the private store as a cache; drop dangling ones.
buildah "${store[@]}" rmi --prune >/dev/null 2>&1 || true

echo "image $IMAGE:$VERSION -> ${archive#"$PWD"/}"
for arch in $IMAGE_ARCHES; do
	size=$(du -cb "$ctx/$arch"/* "$ctx/etc" | tail -1 | cut -f1)
	printf '  linux/%-6s %6.1f MiB uncompressed (enqueuer, worker, monitor, CA bundle, passwd)\n' "$arch" "$(echo "$size/1048576" | bc -l)"
done
printf '  archive      %6.1f MiB\n' "$(echo "$(stat -c %s "$archive")/1048576" | bc -l)"
