#!/usr/bin/env bash
# Inode-scale benchmark (issue 16): our daemon (--inode-file-handles never, prefer, prefer with no fd cache)
# and the Rust virtiofsd 1.13 (never, prefer; from the Debian 13 root scripts/setup.sh makes) each serve a tree
# of FILES empty files; one request queue LOOKUPs + GETATTRs all of them and FORGETs them again. Prints and
# writes docs/benchmark-inodes.md: files/s, fds and RSS before / after / after FORGET, bytes per inode.
#   scripts/bench_inodes.sh [FILES]      default 1000000; the tree is made once under /tmp/virtiofsd-bench
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
art="${ARTIFACTS:-/tmp/art-bench}"
files="${1:-1000000}"
cd "$repo"
# Ours is the binary users run: the NativeAOT publish scripts/setup.sh keeps in .cache/daemon (OURS=PATH overrides).
"$repo/scripts/setup.sh"
ours="${OURS:-$repo/.cache/daemon/publish/VirtioFsd/release_linux-x64/virtiofsd}"
dotnet build bench/VirtioFsd.Bench -c Release --artifacts-path "$art" -nologo -v q
rust=()
if [ -x .cache/trixie/usr/libexec/virtiofsd ]; then
    rust=(--rust "$repo/scripts/rust-virtiofsd.sh")
else
    echo "no .cache/trixie (scripts/setup.sh as root makes it): measuring ours only" >&2
fi
exec "$art/bin/VirtioFsd.Bench/release/virtiofsd-bench" --ours "$ours" "${rust[@]}" \
    --inode-scale "$files" --report "$repo/docs/benchmark-inodes.md"
