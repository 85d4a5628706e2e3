#!/usr/bin/env bash
# Long fuzz runs: scripts/fuzz.sh TARGET|all [--seconds N] [--cases N] [--seed S] [--replay SEED]
# Targets: vhost-user-messages, descriptor-chains, fuse-requests. Prints cases/s and every crasher's
# seed; crashers are appended to tests/Fuzz/crashers/TARGET.txt, which the suite replays
# (tests/VirtioFsd.Tests/Fuzz/FuzzRegressionTests). Needs root for the FUSE target's full coverage.
set -euo pipefail
cd "$(dirname "$0")/.."
dotnet build tests/Fuzz -c Release --nologo -v q -o .cache/fuzz >/dev/null
exec dotnet .cache/fuzz/VirtioFsd.Fuzz.dll "$@"
