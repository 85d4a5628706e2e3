#!/usr/bin/env bash
# Runs PROGRAM [ARGS...] as USER from the Debian 13 (trixie) root that scripts/setup.sh makes under .cache/trixie,
# with a clean environment that has HOME=HOME and XDG_RUNTIME_DIR=HOME/run (made 0700 for USER), as a login
# session has. tests/VirtioFsd.Tests/Libvirt runs libvirt's session mode (qemu:///session) this way: Debian 13's
# libvirt 11 starts virtiofsd for an unprivileged user, Debian 12's 9.0 refuses ("virtiofs is not yet supported
# in session mode").
#
# Unlike scripts/trixie-run.sh, the root is entered with pivot_root in new mount and PID namespaces:
#  - the kernel refuses to create a user namespace inside a chroot (clone(2): EPERM "the caller is in a chroot
#    environment"), and an unprivileged virtiofsd sandboxes itself in one;
#  - everything PROGRAM starts (libvirt's session daemons, QEMU, virtiofsd) ends with it: PROGRAM is the PID
#    namespace's init, and when it exits the kernel kills the rest; if this script is killed, so is PROGRAM.
# /dev, /sys, /tmp and the directories in TRIXIE_BIND (colon-separated) are bound at the same paths, /proc is the
# namespace's own, and the host's /etc/passwd, group, subuid and subgid stand in for the root's, so USER and its
# subordinate ids mean the same inside. Root only.
#   scripts/trixie-user-run.sh USER HOME virsh -c qemu:///session list --all
set -euo pipefail
root=${TRIXIE_ROOT:-$(cd "$(dirname "$0")/.." && pwd)/.cache/trixie}
if [ $# -lt 3 ]; then
    echo "usage: trixie-user-run.sh USER HOME PROGRAM [ARGS...]" >&2
    exit 2
fi
if [ ! -x "$root/usr/bin/qemu-system-x86_64" ]; then
    echo "trixie-user-run.sh: no Debian 13 root at $root; run scripts/setup.sh as root first" >&2
    exit 2
fi
root=$(realpath "$root")
user=$1 home=$2
shift 2
uid=$(id -u "$user")
gid=$(id -g "$user")
install -d -m 0700 -o "$uid" -g "$gid" "$home/run"
binds="/dev /sys /tmp ${TRIXIE_BIND:-}"
binds=${binds//:/ }
exec unshare --mount --pid --fork --kill-child --propagation private -- bash -c '
    set -e
    root=$1 binds=$2 uid=$3 gid=$4 home=$5
    shift 5
    mount --bind "$root" "$root"    # pivot_root(2) needs the new root to be a mount point
    for d in $binds; do mkdir -p "$root$d" && mount --rbind "$d" "$root$d"; done
    mount -t proc proc "$root/proc"
    for f in /etc/passwd /etc/group /etc/subuid /etc/subgid; do
        if [ -e "$f" ]; then touch "$root$f" && mount --bind "$f" "$root$f"; fi
    done
    cd "$root"
    pivot_root . mnt
    umount -l /mnt
    cd /
    exec setpriv --reuid="$uid" --regid="$gid" --clear-groups -- \
        env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$home" XDG_RUNTIME_DIR="$home/run" LANG=C.UTF-8 "$@"
' bash "$root" "$binds" "$uid" "$gid" "$home" "$@"
