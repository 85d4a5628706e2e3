#!/usr/bin/env bash
# Installs what building, testing and the demo need on a fresh Debian machine. Idempotent: a second
# run installs nothing, downloads nothing and (unless sources changed) builds nothing.
#
#   scripts/setup.sh              packages + guest kernel + build our daemon (Release)
#   scripts/setup.sh --no-build   packages + guest kernel only (enough to run the VM against the C daemon)
#
# What it leaves behind (all under .cache/, gitignored):
#   .cache/guest/vmlinuz          the Debian cloud kernel (virtio-pci, fuse and virtiofs built in)
#   .cache/guest/kernel-version   which linux-image package it came from
#   .cache/trixie/                Debian 13 root: QEMU 10 and the Rust virtiofsd 1.13, the peer, and libvirt 11 (as root)
#   .cache/daemon/                our daemon published Release as one NativeAOT binary (run_vm.sh, the benchmarks
#                                 and VIRTIOFSD_BINARY runs of the tests use it); ReadyToRun if AOT cannot build
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD
build=1
for a in "$@"; do
  case $a in
    --no-build) build=0 ;;
    *) echo "setup.sh: unknown option $a" >&2; exit 2 ;;
  esac
done

SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
apt_updated=0
apt_update() {
  [ $apt_updated -eq 1 ] && return 0
  $SUDO apt-get update -qq
  apt_updated=1
}

# --- Debian packages ---------------------------------------------------------------------------
# qemu-system-x86 brings qemu-system-common, which ships the reference C daemon /usr/lib/qemu/virtiofsd.
# busybox-static is the whole guest userland; gcc + libc6-dev build the static xattr helper for the guest.
# fio drives the guest-level and host-mount benchmarks (its binary and libraries go into the initramfs).
need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
[ -x /usr/lib/qemu/virtiofsd ] || need+=(qemu-system-common)
dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
command -v gcc >/dev/null || need+=(gcc)
dpkg -s libc6-dev >/dev/null 2>&1 || need+=(libc6-dev)
command -v fio >/dev/null || need+=(fio)
# newuidmap/newgidmap write the maps of an unprivileged namespace sandbox's user namespace (--uid-map, --gid-map).
[ -x /usr/bin/newuidmap ] || need+=(uidmap)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup.sh: installing ${need[*]}" >&2
  apt_update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
fi
# libvirt's system instance (libvirtd, virtlogd, virsh) for tests/VirtioFsd.Tests/Libvirt, which start them when no
# init system did. The sysv flavour of libvirt-daemon-system, because the systemd one pulls in systemd as the init;
# no recommends (dnsmasq, ...): the test domains have no network.
if [ ! -x /usr/sbin/libvirtd ] || ! command -v virsh >/dev/null; then
  echo "setup.sh: installing libvirt-daemon-system libvirt-clients" >&2
  apt_update
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    libvirt-daemon-system libvirt-daemon-system-sysv libvirt-clients >/dev/null
fi

# --- Guest kernel --------------------------------------------------------------------------------
# Debian's cloud flavour has CONFIG_VIRTIO_PCI, CONFIG_FUSE_FS and CONFIG_VIRTIO_FS built in (=y), so a
# busybox initramfs needs no modules. We take the newest 6.12 cloud image the archive offers, once.
guest=$repo/.cache/guest
if [ ! -s "$guest/vmlinuz" ]; then
  mkdir -p "$guest"
  apt_update
  pkg=$(apt-cache search --names-only '^linux-image-6\.12\.[0-9]+\+deb12-cloud-amd64-unsigned$' \
        | awk '{print $1}' | sort -V | tail -n 1)
  if [ -z "$pkg" ]; then
    echo "setup.sh: no linux-image-6.12.*+deb12-cloud-amd64-unsigned in the apt archive" >&2
    exit 1
  fi
  echo "setup.sh: fetching guest kernel $pkg" >&2
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  # The download runs as the invoking user: _apt cannot write into a private mktemp dir.
  (cd "$tmp" && apt-get download -qq -o APT::Sandbox::User="$(id -un)" "$pkg")
  dpkg -x "$tmp"/*.deb "$tmp/root"
  cp "$tmp"/root/boot/vmlinuz-* "$guest/vmlinuz.part"
  mv "$guest/vmlinuz.part" "$guest/vmlinuz"
  echo "$pkg" > "$guest/kernel-version"
  rm -rf "$tmp"
  trap - EXIT
fi

# --- Guest helpers -------------------------------------------------------------------------------
# busybox has no setfattr/getfattr; a ~60-line static C tool fills the gap (scripts/guest/xattr.c).
if [ ! -x "$guest/xattr" ] || [ scripts/guest/xattr.c -nt "$guest/xattr" ]; then
  gcc -static -O2 -Wall -Werror -o "$guest/xattr.part" scripts/guest/xattr.c
  mv "$guest/xattr.part" "$guest/xattr"
fi

# --- The peer users run today ---------------------------------------------------------------------
# A Debian 13 (trixie) root with QEMU 10 and the Rust virtiofsd 1.13 (/usr/libexec/virtiofsd), from Debian's
# packages only (~80 s, once): scripts/rust-virtiofsd.sh runs the daemon from it, and the benchmarks measure
# ours against it. Root only (debootstrap and chroot); without it, or if the archive cannot be reached, the
# peer is left out with a warning and what needs it says so.
# It also holds libvirt 11 for the session-mode libvirt test (scripts/trixie-user-run.sh): Debian 12's libvirt 9.0
# refuses virtiofs in session mode. libicu76: the .NET runtime the tests' daemon runs on needs ICU in there.
trixie=$repo/.cache/trixie
trixie_libvirt="libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients uidmap libicu76"
if [ ! -x "$trixie/usr/libexec/virtiofsd" ] && [ "$(id -u)" -eq 0 ] && [ "${SETUP_NO_PEER:-0}" != 1 ]; then
  if ! command -v debootstrap >/dev/null; then
    apt_update
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq debootstrap >/dev/null
  fi
  echo "setup.sh: making the Debian 13 root with QEMU 10 and the Rust virtiofsd 1.13 (.cache/trixie)" >&2
  rm -rf --one-file-system "$trixie.part"
  if debootstrap --variant=minbase --include=qemu-system-x86,virtiofsd,fio trixie "$trixie.part" \
       http://deb.debian.org/debian > "$repo/.cache/trixie.log" 2>&1; then
    mv "$trixie.part" "$trixie"
  else
    echo "setup.sh: warning: debootstrap of trixie failed (see .cache/trixie.log); no Rust virtiofsd peer" >&2
    rm -rf --one-file-system "$trixie.part"
  fi
fi
# libvirt goes in with apt inside the made root (~30 s, once; also into roots made before the libvirt test):
# debootstrap cannot include it, because it pulls in systemd, whose pre-dependency debootstrap's dpkg run leaves
# unconfigured ("pre-dependency problem - not installing systemd").
if [ -x "$trixie/usr/libexec/virtiofsd" ] && [ ! -x "$trixie/usr/sbin/libvirtd" ] && [ "$(id -u)" -eq 0 ] \
   && [ "${SETUP_NO_PEER:-0}" != 1 ]; then
  echo "setup.sh: adding libvirt to the Debian 13 root (.cache/trixie)" >&2
  # shellcheck disable=SC2086 # the package list is word-split on purpose
  if ! TRIXIE_ROOT=$trixie scripts/trixie-run.sh sh -c 'apt-get update -qq &&
         DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" && apt-get clean' sh $trixie_libvirt \
       >> "$repo/.cache/trixie.log" 2>&1; then
    echo "setup.sh: warning: installing libvirt into the Debian 13 root failed (see .cache/trixie.log)" >&2
  fi
fi

# --- Our daemon ----------------------------------------------------------------------------------
# Built into its own artifacts path so it never races a developer's or the test run's build of the tree.
if [ $build -eq 1 ]; then
  out=$repo/.cache/daemon/publish/VirtioFsd/release_linux-x64/virtiofsd
  stale=1
  if [ -x "$out" ]; then
    newer=$(find src -name obj -prune -o -name bin -prune -o -newer "$out" \
              \( -name '*.cs' -o -name '*.csproj' -o -name '*.props' -o -name '*.c' -o -name 'code-layout.txt' \) -print -quit)
    [ -n "$newer" ] || stale=0
  fi
  if [ $stale -eq 1 ]; then
    # NativeAOT: one self-contained binary (no .NET runtime needed), 3.3 MiB idle RSS and the socket ready in
    # ~5 ms, against 35 MiB and ~45 ms for ReadyToRun (docs/benchmark.md "One native binary"). It needs
    # gcc (installed above) or clang and the ILCompiler package; if that publish fails, ReadyToRun (needs the .NET runtime) is
    # published to the same path instead, and this says so.
    rm -rf "$repo/.cache/daemon/publish/VirtioFsd"
    echo "setup.sh: publishing our daemon (Release, NativeAOT)" >&2
    if ! dotnet publish src/VirtioFsd -c Release -r linux-x64 -p:PublishAot=true --nologo -v q \
         --artifacts-path "$repo/.cache/daemon" > "$repo/.cache/daemon-aot.log" 2>&1; then
      echo "setup.sh: warning: the NativeAOT publish failed (see .cache/daemon-aot.log); publishing ReadyToRun," \
        "which needs the .NET runtime (rm -rf .cache/daemon to try NativeAOT again)" >&2
      rm -rf "$repo/.cache/daemon/publish/VirtioFsd"
      dotnet publish src/VirtioFsd -c Release -r linux-x64 --self-contained false --nologo -v q \
        --artifacts-path "$repo/.cache/daemon" >&2
    fi
    touch "$out"
  fi
fi
