#!/usr/bin/env bash
# Builds havok's runtime image on this machine (FROM scratch, no registry):
#
#   contrib/docker/build.sh [TAG [DOCKER BUILD FLAGS...]]    # TAG defaults to havok:latest
#
#   1. cargo build --release (extra cargo flags in CARGO_FLAGS, e.g.
#      CARGO_FLAGS="--no-default-features --features etcd3"); skipped when
#      HAVOK_BINARY names a binary built already;
#   2. copies that binary, every library `ldd` lists and the loader into
#      a temporary build context's rootfs/ at their own paths;
#   3. docker build -t TAG with contrib/docker/Dockerfile.
set -euo pipefail
cd "$(dirname "$0")/../.."

tag=${1:-havok:latest}
shift || true

binary=${HAVOK_BINARY:-}
if [ -z "$binary" ]; then
  # shellcheck disable=SC2086 # CARGO_FLAGS is a list of flags
  cargo build --release ${CARGO_FLAGS:-}
  binary=target/release/havok
fi
[ -x "$binary" ] || { echo "build.sh: $binary is not an executable" >&2; exit 1; }

context=$(mktemp -d "${TMPDIR:-/tmp}/havok-image-XXXXXX")
trap 'rm -rf "$context"' EXIT
mkdir -p "$context/rootfs/usr/local/bin"
cp "$binary" "$context/rootfs/usr/local/bin/havok"

# `libc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x…)` and
# `/lib64/ld-linux-x86-64.so.2 (0x…)`; a static binary has none (ldd fails).
libs=$(ldd "$binary" 2>/dev/null | awk '{ p = ($2 == "=>") ? $3 : $1; if (p ~ /^\//) print p }' || true)
for lib in $libs; do
  mkdir -p "$context/rootfs$(dirname "$lib")"
  cp -L "$lib" "$context/rootfs$lib" # symlinks become the files they name
done
cp contrib/docker/Dockerfile "$context/Dockerfile"

docker build -t "$tag" "$@" "$context"
echo "built $tag from $binary ($(echo "$libs" | wc -w) libraries)" >&2
