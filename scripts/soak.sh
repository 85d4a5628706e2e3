#!/usr/bin/env bash
# Builds our virtiofsd and the benchmark driver in Release, then runs the soak: a long mixed load on
# several request queues (every workload of the benchmark, create/unlink with FORGET) while the
# daemon's RSS and open fds are sampled; regenerates docs/soak.md (the generated block) and docs/soak.svg.
# Exit status 3: the fd count did not return to the baseline after the load.
#   scripts/soak.sh                      # 600 s, 4 request queues, a sample every 5 s
#   scripts/soak.sh --soak 60 --queues 2 # any benchmark option after the defaults overrides them
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
art="${ARTIFACTS:-/tmp/art-soak}"
cd "$repo"
# Ours is the binary users run: the NativeAOT publish scripts/setup.sh keeps in .cache/daemon (OURS=PATH overrides).
"$repo/scripts/setup.sh"
ours="${OURS:-$repo/.cache/daemon/publish/VirtioFsd/release_linux-x64/virtiofsd}"
dotnet build bench/VirtioFsd.Bench -c Release --artifacts-path "$art" -nologo -v q
exec "$art/bin/VirtioFsd.Bench/release/virtiofsd-bench" --ours "$ours" \
    --soak 600 --queues 4 --sample 5 --workdir "${TMPDIR:-/tmp}/virtiofsd-soak-$$" \
    --report "$repo/docs/soak.md" --svg "$repo/docs/soak.svg" "$@"
