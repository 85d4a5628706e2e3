#!/usr/bin/env bash
# Runs every test (unit, socket-level and VM boot tests). Installs what a fresh machine lacks.
set -euo pipefail
cd "$(dirname "$0")/.."
# --no-build: dotnet test builds the daemon the tests use (the apphost next to the test assembly);
# the Release build in .cache/daemon is only for run_vm.sh's demo.
scripts/setup.sh --no-build
dotnet test VirtioFsd.sln --nologo "$@"
