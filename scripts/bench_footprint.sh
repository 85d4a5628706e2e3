#!/usr/bin/env bash
# Footprint benchmark (issue 17): what one daemon costs a host that starts one per VM or pod. Our NativeAOT
# binary (scripts/setup.sh's .cache/daemon), our ReadyToRun publish (the previous default; needs the .NET
# runtime) and the Rust virtiofsd 1.13 (the Debian 13 root setup.sh makes, through scripts/rust-virtiofsd.sh)
# in one run, alternating: socket-ready time, idle RSS / PSS / threads, per idle request queue, and peak RSS
# and ops/s under the daemon-level 4-queue load. Prints one table per sandbox mode (none, chroot, namespace).
# The Rust daemon runs on the host through the Debian 13 root's own dynamic loader and libraries (its namespace
# sandbox cannot start inside the chroot scripts/rust-virtiofsd.sh runs it in). Needs root.
#   scripts/bench_footprint.sh [--rounds N] [--seconds S]     any further benchmark options
#   REPORT=docs/x.md scripts/bench_footprint.sh              also writes the tables there
#   REALTIME=1 scripts/bench_footprint.sh                    bench and daemons under SCHED_FIFO (chrt -f 1)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
art="${ARTIFACTS:-/tmp/art-footprint}"
cd "$repo"
"$repo/scripts/setup.sh"
aot="$repo/.cache/daemon/publish/VirtioFsd/release_linux-x64/virtiofsd"
if [ -e "$(dirname "$aot")/virtiofsd.dll" ]; then
    echo "bench_footprint.sh: .cache/daemon holds a ReadyToRun build (the NativeAOT publish failed); see .cache/daemon-aot.log" >&2
    exit 1
fi
dotnet publish src/VirtioFsd -c Release -r linux-x64 --self-contained false --artifacts-path "$art" -nologo -v q
dotnet build bench/VirtioFsd.Bench -c Release --artifacts-path "$art" -nologo -v q
r2r="$art/publish/VirtioFsd/release_linux-x64/virtiofsd"
out=$(mktemp)
rust_host=$(mktemp)
trap 'rm -f "$out" "$rust_host"' EXIT
rust=()
trixie="${TRIXIE_ROOT:-$repo/.cache/trixie}"
if [ -x "$trixie/usr/libexec/virtiofsd" ]; then
    lib="$trixie/usr/lib/x86_64-linux-gnu"
    printf '#!/bin/sh\nexec "%s" --library-path "%s" "%s" "$@"\n' "$lib/ld-linux-x86-64.so.2" "$lib" \
        "$trixie/usr/libexec/virtiofsd" > "$rust_host"
    chmod +x "$rust_host"
    rust=(--rust "$rust_host")
else
    echo "no .cache/trixie (scripts/setup.sh as root makes it): measuring ours only" >&2
fi
rt=()
if [ "${REALTIME:-0}" = 1 ]; then
    rt=(chrt -f 1)
fi
for sandbox in none chroot namespace; do
    "${rt[@]}" "$art/bin/VirtioFsd.Bench/release/virtiofsd-bench" --footprint --ours "$aot" --ours-label "ours NativeAOT" \
        --also "ours ReadyToRun=$r2r" "${rust[@]}" --sandbox "$sandbox" --rounds 5 --seconds 1 \
        --report "$out.$sandbox" "$@"
    cat "$out.$sandbox" >> "$out"; echo >> "$out"; rm -f "$out.$sandbox"
done
[ -z "${REPORT:-}" ] || cp "$out" "$REPORT"
