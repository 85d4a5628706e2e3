#!/usr/bin/env bash
# Builds our virtiofsd and the benchmark in Release, then measures ours against the C virtiofsd
# (alternating, several rounds) and regenerates docs/benchmark.md (the generated block only) and
# docs/benchmark.svg. Extra arguments go to the benchmark, e.g. --rounds 5 --seconds 2.
#   ARTIFACTS=/tmp/art-x scripts/bench.sh --rounds 3
#   REALTIME=1 scripts/bench.sh     # bench and daemons under SCHED_FIFO (chrt -f 1): steadier on a busy machine
#   PEER=rust scripts/bench.sh       # against the Rust virtiofsd 1.13 (Debian 13 root, scripts/setup.sh as root):
#                                    # docs/benchmark-rust.md and .svg instead
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
art="${ARTIFACTS:-/tmp/art-bench}"
cd "$repo"
# Ours is the binary users run: the NativeAOT publish scripts/setup.sh keeps in .cache/daemon (OURS=PATH overrides).
"$repo/scripts/setup.sh"
ours="${OURS:-$repo/.cache/daemon/publish/VirtioFsd/release_linux-x64/virtiofsd}"
dotnet build bench/VirtioFsd.Bench -c Release --artifacts-path "$art" -nologo -v q
bench="$art/bin/VirtioFsd.Bench/release/virtiofsd-bench"
cdaemon="${C_VIRTIOFSD:-/usr/lib/qemu/virtiofsd}"
if [ ! -x "$cdaemon" ]; then
    echo "no C virtiofsd at $cdaemon (apt-get install qemu-system-common, or set C_VIRTIOFSD): measuring ours only" >&2
    set -- --ours-only "$@"
fi
if [ "$(id -u)" != 0 ]; then
    echo "the C virtiofsd's namespace sandbox needs root; run as root for the comparison" >&2
fi
rt=()
if [ "${REALTIME:-0}" = 1 ]; then
    rt=(chrt -f 1)
fi
if [ "${PEER:-c}" = rust ]; then
    [ -x "$repo/.cache/trixie/usr/libexec/virtiofsd" ] || { echo "no Debian 13 root: run scripts/setup.sh as root" >&2; exit 2; }
    exec "${rt[@]}" "$bench" --ours "$ours" --rust "$repo/scripts/rust-virtiofsd.sh" \
        --report "$repo/docs/benchmark-rust.md" --svg "$repo/docs/benchmark-rust.svg" "$@"
fi
exec "${rt[@]}" "$bench" --ours "$ours" --c "$cdaemon" \
    --report "$repo/docs/benchmark.md" --svg "$repo/docs/benchmark.svg" "$@"
