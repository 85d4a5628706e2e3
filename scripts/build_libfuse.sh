#!/usr/bin/env bash
# Builds the benchmark's anchor, libfuse 3.18's example/passthrough_hp (C++, with FUSE-over-io_uring), from
# Debian unstable's fuse3 source package into .cache/libfuse/ (nothing of it is committed). Idempotent: a
# second run only prints the binary's path. Only scripts/bench_hostmount.sh needs it; the tests never do.
#   scripts/build_libfuse.sh            # -> prints .cache/libfuse/build/example/passthrough_hp
# Needs root for apt-get (meson, liburing-dev and libnuma-dev, without which libfuse builds no io_uring).
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
version=3.18.3
cache=$repo/.cache/libfuse
bin=$cache/build/example/passthrough_hp
if [ -x "$bin" ] && [ -f "$cache/version" ] && [ "$(cat "$cache/version")" = "$version" ]; then
    echo "$bin"
    exit 0
fi
mkdir -p "$cache"

# Build tools and the two libraries libfuse's meson.build needs before it compiles lib/fuse_uring.c.
missing=""
for p in meson ninja-build g++ pkg-config liburing-dev libnuma-dev; do
    dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "build_libfuse.sh: installing$missing" >&2
    apt-get install -y -q $missing >&2 || { apt-get update -q >&2 && apt-get install -y -q $missing >&2; }
fi

# The source package from sid through a private apt configuration: the host's sources and lists stay as they are.
src=$cache/fuse-$version
if [ ! -f "$src/meson.build" ]; then
    apt=$cache/apt
    mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial"
    echo "deb-src [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] http://deb.debian.org/debian sid main" \
        > "$apt/sources.list"
    opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
          -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o APT::Sandbox::User=root)
    apt-get "${opts[@]}" update -q >&2
    (cd "$cache" && apt-get "${opts[@]}" source --download-only "fuse3=$version-1" >&2)
    tar -xzf "$cache/fuse3_$version.orig.tar.gz" -C "$cache"
fi

rm -rf "$cache/build"
meson setup "$cache/build" "$src" --buildtype=release -Dexamples=true -Dutils=false -Dtests=false \
    -Denable-io-uring=true >&2
grep -q "HAVE_URING" "$cache/build/fuse_config.h" \
    || { echo "build_libfuse.sh: libfuse configured without io_uring (liburing/libnuma missing?)" >&2; exit 1; }
ninja -C "$cache/build" example/passthrough_hp >&2
echo "$version" > "$cache/version"
echo "$bin"
