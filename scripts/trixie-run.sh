#!/usr/bin/env bash
# Runs PROGRAM [ARGS...] from the Debian 13 (trixie) root that scripts/setup.sh makes under .cache/trixie:
# QEMU 10 (qemu-system-x86_64) and the Rust virtiofsd 1.13 (/usr/libexec/virtiofsd), what users run today.
# /dev, /proc, /tmp and the directories in TRIXIE_BIND (colon-separated) are bind-mounted at the same paths
# in a private mount namespace that ends with the program, so paths in ARGS mean the same inside. Root only.
#   scripts/trixie-run.sh qemu-system-x86_64 --version
set -euo pipefail
root=${TRIXIE_ROOT:-$(cd "$(dirname "$0")/.." && pwd)/.cache/trixie}
if [ ! -x "$root/usr/bin/qemu-system-x86_64" ]; then
    echo "trixie-run.sh: no Debian 13 root at $root; run scripts/setup.sh as root first" >&2
    exit 2
fi
binds="/dev /proc /tmp ${TRIXIE_BIND:-}"
binds=${binds//:/ }
# unshare without --fork execs in this process: the pid the caller started is the program's.
exec unshare --mount --propagation private -- sh -c '
    root=$1; shift; binds=$1; shift
    for d in $binds; do mkdir -p "$root$d" && mount --rbind "$d" "$root$d"; done
    exec chroot "$root" "$@"' sh "$root" "$binds" "$@"
