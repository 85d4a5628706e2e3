#!/usr/bin/env bash
# Runs the Rust virtiofsd 1.13 of the Debian 13 root that scripts/setup.sh makes (.cache/trixie) with the
# arguments given, so that scripts and benchmarks can start it like any virtiofsd binary. Paths in the
# arguments (socket, shared directory) must mean the same inside the root: /dev, /proc and the directories
# in RUST_VIRTIOFSD_BIND (colon-separated, default /tmp) are bind-mounted at the same place, in a private
# mount namespace that ends with the daemon. Its namespace sandbox cannot start inside a chroot: pass
# --sandbox chroot or none. Needs root.
set -euo pipefail
root=${TRIXIE_ROOT:-$(cd "$(dirname "$0")/.." && pwd)/.cache/trixie}
if [ ! -x "$root/usr/libexec/virtiofsd" ]; then
    echo "rust-virtiofsd.sh: no $root/usr/libexec/virtiofsd; run scripts/setup.sh first" >&2
    exit 2
fi
binds="/dev /proc ${RUST_VIRTIOFSD_BIND:-/tmp}"
binds=${binds//:/ }
# unshare without --fork execs in this process: the pid the caller started is the daemon's.
exec unshare --mount --propagation private -- sh -c '
    root=$1; shift; binds=$1; shift
    for d in $binds; do mkdir -p "$root$d" && mount --rbind "$d" "$root$d"; done
    exec chroot "$root" /usr/libexec/virtiofsd "$@"' sh "$root" "$binds" "$@"
