# Builds the guest's initramfs: static busybox, scripts/guest/init as /init, the guest script (if any)
# as /guest/script.sh, the guest helpers (the static xattr tool), and /etc/vm.env.
# build_fio_cpio adds fio (for the guest-level benchmark) as a second archive, appended on request only.
# Sourced by scripts/run_vm.sh. Needs: busybox (static), cpio from busybox, gzip; fio and ldd for fio.

# build_initramfs OUT_CPIO_GZ MODE TAG BOOT [GUEST_SCRIPT]
build_initramfs() {
  local out=$1 mode=$2 tag=$3 boot=$4 script=${5:-}
  local lib_dir repo root busybox
  lib_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
  repo=$(cd "$lib_dir/../.." && pwd)
  root=$(mktemp -d)
  busybox=$(command -v busybox)
  mkdir -p "$root"/{bin,sbin,etc,proc,sys,dev,tmp,mnt,guest,root}
  cp "$busybox" "$root/bin/busybox"
  install -m 0755 "$repo/scripts/guest/init" "$root/init"
  install -m 0644 "$repo/scripts/guest/lib.sh" "$root/guest/lib.sh"
  if [ -n "$script" ]; then
    install -m 0755 "$script" "$root/guest/script.sh"
  fi
  # The xattr helper is optional: busybox has no setfattr/getfattr, so without it the guest
  # script skips its xattr section (and says so on the console).
  if [ -x "$repo/.cache/guest/xattr" ]; then
    install -m 0755 "$repo/.cache/guest/xattr" "$root/bin/xattr"
  fi
  {
    printf 'VM_TAG=%s\nVM_MODE=%s\nVM_BOOT=%s\n' "$tag" "$mode" "$boot"
  } > "$root/etc/vm.env"
  # newc is the only cpio format the kernel unpacks (Documentation/driver-api/early-userspace).
  (cd "$root" && find . | busybox cpio -o -H newc 2>/dev/null | gzip -1) > "$out"
  rm -rf "$root"
}

# build_fio_cpio OUT_CPIO
# An uncompressed newc archive holding the host's /usr/bin/fio, every shared library `ldd` lists for it
# (at the path ldd resolves it to) and the dynamic loader. Debian's fio links ~60 libraries (ceph,
# gluster, ICU data: ~85 MB), all needed at load time, so this stays out of the normal boots. The
# kernel unpacks concatenated archives, compressed or not (Documentation/driver-api/early-userspace/
# buffer-format.rst), so run_vm.sh appends it to the gzip'd initramfs; uncompressed because gunzip of
# 85 MB under TCG costs seconds per boot and the host builds it once per run.
build_fio_cpio() {
  local out=$1 root fio lib
  fio=$(command -v fio) || { echo "initramfs.sh: fio is not installed (scripts/setup.sh installs it)" >&2; return 1; }
  root=$(mktemp -d)
  mkdir -p "$root/usr/bin"
  cp "$fio" "$root/usr/bin/fio"
  # ldd prints "name => /path (addr)" per library and "/lib64/ld-linux-x86-64.so.2 (addr)" for the loader.
  while read -r lib; do
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done < <(ldd "$fio" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }')
  (cd "$root" && find . | busybox cpio -o -H newc 2>/dev/null) > "$out"
  rm -rf "$root"
}
