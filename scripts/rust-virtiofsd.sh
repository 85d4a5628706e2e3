#!/usr/bin/env bash
# Runs the Rust virtiofsd 1.13 of the Debian 13 root (scripts/trixie-run.sh) with the arguments given, so that
# scripts and benchmarks can start it like any virtiofsd binary. The socket and the shared directory must be
# under /tmp or in RUST_VIRTIOFSD_BIND (colon-separated). Its namespace sandbox cannot start inside a chroot:
# pass --sandbox chroot or none. Needs root.
set -euo pipefail
TRIXIE_BIND=${RUST_VIRTIOFSD_BIND:-} exec "$(dirname "$0")/trixie-run.sh" /usr/libexec/virtiofsd "$@"
