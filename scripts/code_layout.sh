#!/usr/bin/env bash
# Regenerates src/VirtioFsd/code-layout.txt, the order in which the NativeAOT compiler lays out the daemon's
# managed methods (IlcOrderFile). The kernel maps a program's code 64 KiB at a time around each page that runs
# (fault-around), so a method that runs once under load costs 64 KiB of RSS when it sits among methods that do not.
# The file puts first what a connected daemon runs while idle and under the footprint benchmark's request load,
# then what the rest of its life runs (start-up, connection set-up), then the compiler's own order for the rest.
# Names the compiler no longer makes are skipped by it, so a stale file only loses locality; re-run this after
# changing the request path. Needs root (tracefs uprobes), nm, python3; takes ~20 minutes (every probe slows the run).
#   scripts/code_layout.sh            uses the NativeAOT binary setup.sh builds, rewrites the layout file
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
art="${ARTIFACTS:-/tmp/art-layout}"
cd "$repo"
"$repo/scripts/setup.sh"
binary="$repo/.cache/daemon/publish/VirtioFsd/release_linux-x64/virtiofsd"
[ -e "$binary.dbg" ] || { echo "code_layout.sh: no NativeAOT build with symbols at $binary.dbg" >&2; exit 1; }
dotnet build bench/VirtioFsd.Bench -c Release --artifacts-path "$art" -nologo -v q
export BENCH="$art/bin/VirtioFsd.Bench/release/virtiofsd-bench"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# Each pass records first hits only, so two steady passes catch more of what runs once in a while (a first lock
# contention, a table growing) than one.
python3 scripts/lib/code_coverage.py "$binary" steady "$work/steady1"
python3 scripts/lib/code_coverage.py "$binary" steady "$work/steady2"
python3 scripts/lib/code_coverage.py "$binary" all "$work/all"
out=src/VirtioFsd/code-layout.txt
{
    echo "# NativeAOT method order (IlcOrderFile), written by scripts/code_layout.sh on $(date -u +%Y-%m-%d): what a"
    echo "# connected daemon runs idle and under load first, then the rest of what it ran. Lines that name no method are skipped."
    awk '!seen[$0]++' "$work/steady1" "$work/steady2" "$work/all"
} > "$out.part"
mv "$out.part" "$out"
echo "code_layout.sh: $(grep -vc '^#' "$out") methods in $out"
