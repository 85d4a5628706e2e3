# Guest side of the VM file-system test, boot 2 (busybox sh, cwd = the virtio-fs mount /mnt).
#
# Runs in a fresh guest after scripts/guest/fs_test.sh, against the same daemon if it stayed up after
# the first guest disconnected (else a fresh one): nothing is in this guest's caches, so every check
# below is answered by the daemon. Re-checks what boot 1 left in out/, then writes out/boot2.txt.
. /guest/lib.sh

[ -d out ] || { echo "fs_verify.sh: no out/ directory: run fs_test.sh first"; exit 2; }

section "contents after reconnect"
expect_eq "created.txt" "$(cat out/created.txt)" "hello
line2"
expect_eq "offset.txt" "$(cat out/offset.txt)" "0123XY6789"
expect_eq "trunc.txt" "$(cat out/trunc.txt)" "x"
expect_eq "renamed.txt" "$(cat out/renamed.txt)" moved
expect_eq "replaced.txt" "$(cat out/replaced.txt)" new
expect_eq "dir-b/file.txt" "$(cat out/dir-b/file.txt)" inside
expect_eq "sparse.bin size" "$(stat -c %s out/sparse.bin)" 10485760
expect_eq "sparse.bin reads as zeros" "$(tr -d '\0' < out/sparse.bin | wc -c)" 0

section "guest-big.bin read back through the daemon"
expect_eq "md5 of out/guest-big.bin" "$(md5sum out/guest-big.bin | cut -d' ' -f1)" "$(cat out/guest-big.md5)"

section "metadata after reconnect"
expect_eq "hard link count" "$(stat -c %h out/link-target.txt)" 2
expect_eq "hard link is the same inode" "$(stat -c %i out/hardlink.txt)" "$(stat -c %i out/link-target.txt)"
expect_eq "unlinked twin count" "$(stat -c %h out/unlinked-twin.txt)" 1
expect_eq "symlink" "$(readlink out/symlink)" link-target.txt
expect_eq "dangling symlink" "$(readlink out/dangling)" does-not-exist
expect_eq "directory symlink" "$(readlink out/dir-link)" ../out/dir-b
expect_eq "mode 640" "$(stat -c %a out/mode640.txt)" 640
expect_eq "mode 4755" "$(stat -c %a out/mode4755.bin)" 4755
expect_eq "mode 1777" "$(stat -c %a out/sticky-dir)" 1777
expect_eq "owner" "$(stat -c %u:%g out/owned.txt)" 1234:5678
expect_eq "mtime" "$(stat -c %Y out/dated.txt)" 981173106
expect_eq "fifo" "$(stat -c %F out/fifo)" fifo
expect_eq "char device" "$(stat -c '%F %t %T' out/chardev)" "character special file 1 3"
expect_eq "block device" "$(stat -c '%F %t %T' out/blockdev)" "block special file 7 0"
if command -v xattr >/dev/null; then
  expect_eq "xattr" "$(xattr get out/xattr.txt user.test)" value1
  expect_fail "removed xattr stays removed" xattr get out/xattr.txt user.gone
fi

section "write after reconnect"
echo "second boot" > out/boot2.txt
expect_eq "boot2.txt" "$(cat out/boot2.txt)" "second boot"
sync

finish_checks
