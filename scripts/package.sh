#!/usr/bin/env bash
# Builds the Debian package of our daemon: the NativeAOT binary (no .NET runtime needed), the vhost-user
# descriptor QEMU's tools and libvirt read, and a man page made from --help.
#
#   scripts/package.sh              -> .cache/package/virtiofsd-cs_VERSION_amd64.deb (path printed last)
#   dpkg -i .cache/package/virtiofsd-cs_*_amd64.deb
#
# What it installs (Debian's own virtiofsd packages keep their files; nothing is diverted):
#   /usr/libexec/virtiofsd-cs                        the daemon (the Rust one is /usr/libexec/virtiofsd)
#   /usr/bin/virtiofsd-cs                            a symlink to it, for people who type it
#   /usr/share/qemu/vhost-user/40-virtiofsd-cs.json  {"type": "fs", "binary": ...}: libvirt takes the first
#                                                    fs descriptor in file-name order, so 40- comes before
#                                                    Debian's 50-qemu-virtiofsd.json and the package is
#                                                    what libvirt starts for a <filesystem> without <binary>
#   /usr/share/man/man1/virtiofsd-cs.1.gz            from --help (help2man; a plain page if it is missing)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cd "$repo"

# The binary: setup.sh publishes NativeAOT into .cache/daemon (ReadyToRun only if AOT failed, which a
# package must not ship: it would need a .NET runtime that no dependency brings).
scripts/setup.sh
bin=$repo/.cache/daemon/publish/VirtioFsd/release_linux-x64/virtiofsd
if [ -e "$(dirname "$bin")/virtiofsd.dll" ]; then
  echo "package.sh: $bin is a ReadyToRun build (the NativeAOT publish failed, see .cache/daemon-aot.log)" >&2
  exit 1
fi

version=$("$bin" -V | awk '{print $2}')
arch=$(dpkg --print-architecture)
stage=$repo/.cache/package/root
rm -rf "$stage"
mkdir -p "$stage/DEBIAN" "$stage/usr/libexec" "$stage/usr/bin" "$stage/usr/share/qemu/vhost-user" \
  "$stage/usr/share/man/man1" "$stage/usr/share/doc/virtiofsd-cs"
install -m 0755 "$bin" "$stage/usr/libexec/virtiofsd-cs"
ln -s ../libexec/virtiofsd-cs "$stage/usr/bin/virtiofsd-cs"
cat > "$stage/usr/share/qemu/vhost-user/40-virtiofsd-cs.json" <<'EOF'
{
  "description": "virtiofsd-cs: virtio-fs vhost-user backend (drop-in virtiofsd, C# NativeAOT)",
  "type": "fs",
  "binary": "/usr/libexec/virtiofsd-cs"
}
EOF

# --- Man page ------------------------------------------------------------------------------------
if ! command -v help2man >/dev/null; then
  SUDO=; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=300 install -y -qq help2man >/dev/null 2>&1 \
    || echo "package.sh: help2man not installable; writing a plain man page" >&2
fi
man=$stage/usr/share/man/man1/virtiofsd-cs.1
if command -v help2man >/dev/null; then
  # help2man runs the program for --help and --version; the name shown is the installed one.
  help2man --no-info --section 1 --name "virtio-fs vhost-user device backend (a drop-in virtiofsd)" \
    --version-string "$version" --help-option --help --output "$man" \
    --include /dev/stdin "$bin" <<'EOF'
[SEE ALSO]
.BR qemu (1),
.BR virtiofsd (1).
The host-mount mode is described by
.BR "virtiofsd-cs mount --help" .
EOF
  # Only the usage line and the title name the installed command; the description's "a drop-in virtiofsd" stays.
  sed -i 's/^virtiofsd\( \|$\)/virtiofsd-cs\1/; s/^\.TH VIRTIOFSD /.TH VIRTIOFSD-CS /' "$man"
else
  {
    echo ".TH VIRTIOFSD-CS 1 \"$(date +%Y-%m-%d)\" \"virtiofsd-cs $version\" \"User Commands\""
    echo ".SH NAME"
    echo "virtiofsd-cs \\- virtio-fs vhost-user device backend (a drop-in virtiofsd)"
    echo ".SH DESCRIPTION"
    echo ".nf"
    "$bin" --help | sed 's/\\/\\\\/g; s/^\./\\\&./'
    echo ".fi"
  } > "$man"
fi
gzip -9n "$man"

cat > "$stage/usr/share/doc/virtiofsd-cs/copyright" <<'EOF'
virtiofsd-cs: a virtio-fs vhost-user backend written in C#, published as one NativeAOT binary.
The binary contains the .NET runtime (MIT), System.CommandLine (MIT) and Serilog (Apache-2.0).
EOF

# --- Control ---------------------------------------------------------------------------------------
# The binary links libc and libm only (no libstdc++, no OpenSSL, no ICU: invariant globalization); the
# newest glibc symbol version it uses is the dependency. --sandbox namespace needs no other program: the
# binary clones the daemon into its namespaces itself (unshare(1) is for the JIT build only). newuidmap and
# newgidmap (uidmap) write --uid-map/--gid-map ranges for a user's namespace sandbox: Debian's virtiofsd depends
# on uidmap; here it is recommended, so that `dpkg -i` works without it and only those options say it is missing.
glibc=$(objdump -T "$bin" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -n 1)
size=$(du -sk --exclude=DEBIAN "$stage" | awk '{print $1}')
cat > "$stage/DEBIAN/control" <<EOF
Package: virtiofsd-cs
Version: $version
Architecture: $arch
Maintainer: virtiofsd-cs developers <virtiofsd-cs@localhost>
Installed-Size: $size
Depends: libc6 (>= $glibc)
Recommends: uidmap, qemu-system-x86 | qemu-system
Section: admin
Priority: optional
Homepage: https://gitlab.com/virtio-fs/virtiofsd
Description: virtio-fs vhost-user backend, a drop-in replacement for virtiofsd
 A vhost-user virtio-fs device backend that takes the Rust virtiofsd's command
 line (--socket-path, --fd, --shared-dir, --cache, --sandbox, ...), so QEMU,
 libvirt, Kata and Podman machine can start it in virtiofsd's place. One native
 binary (NativeAOT): no .NET runtime is needed.
EOF

out=$repo/.cache/package/virtiofsd-cs_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$stage" "$out" >/dev/null
echo "$out"
