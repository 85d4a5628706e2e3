# Builds the guest's initramfs: static busybox, scripts/guest/init as /init, the guest script (if any)
# as /guest/script.sh, the guest helpers (the static xattr tool), and /etc/vm.env.
# Sourced by scripts/run_vm.sh. Needs: busybox (static), cpio from busybox, gzip.

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
