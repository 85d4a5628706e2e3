#!/usr/bin/env bash
# Runs every test (unit, socket-level and VM boot tests). Installs what a fresh machine lacks.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
dotnet test VirtioFsd.sln --nologo "$@"
