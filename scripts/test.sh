#!/usr/bin/env bash
# Runs every test (unit, socket-level and VM boot tests). Installs what a fresh machine lacks.
set -euo pipefail
cd "$(dirname "$0")/.."
# --no-build: dotnet test builds the daemon the tests use (the apphost next to the test assembly); the
# NativeAOT binary in .cache/daemon is run_vm.sh's and the benchmarks'. To run the process and VM tests
# against it instead: VIRTIOFSD_BINARY=$PWD/.cache/daemon/publish/VirtioFsd/release_linux-x64/virtiofsd scripts/test.sh
# (absolute: the tests run from their own bin directory)
scripts/setup.sh --no-build
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
dotnet test VirtioFsd.sln --nologo "$@" 2>&1 | tee "$log" || status=$?
# One closing line over all test assemblies ("Passed!  - Failed: 0, Passed: 74, ..." per assembly).
awk '/(Passed|Failed)! +- +Failed: +[0-9]+, +Passed: +[0-9]+/ {
       gsub(",", ""); for (i = 1; i <= NF; i++) { if ($i == "Failed:") f += $(i+1); if ($i == "Passed:") p += $(i+1); if ($i == "Skipped:") s += $(i+1) } n++ }
     END { if (n == 0) print "no test assembly reported results"; else printf "%d passed, %d failed, %d skipped\n", p, f, s }' "$log"
exit "$status"
