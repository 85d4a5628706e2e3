# Guest side of the VM file-system test, boot 1 (busybox sh, cwd = the virtio-fs mount /mnt).
#
# The host (tests/VirtioFsd.Tests/Vm) prepared:
#   host/small.txt                 "host text"
#   host/big.bin, host/big.md5  a host-written file (64 MiB in a full run) and its md5 (hex)
#   host/params                 optional sizes: BIG_MIB=64 (the file the guest writes), MANY=10000
#                               (entries of the big directory); the VM test shrinks them for some
#                               matrix entries to keep the whole matrix within its time budget
# This script exercises the share, removes everything it made except out/, and leaves in out/ what the
# host then checks (contents, modes, owners, link counts, symlink targets, times, node types, xattrs).
# scripts/guest/fs_verify.sh re-checks out/ from a second boot. Keep the three in step.
. /guest/lib.sh

MNT=$(pwd)
[ -f host/small.txt ] && [ -f host/big.bin ] && [ -f host/big.md5 ] || {
  echo "fs_test.sh: the shared directory lacks host/{small.txt,big.bin,big.md5} (see tests/VirtioFsd.Tests/Vm)"
  exit 2
}
grep -q " $MNT virtiofs " /proc/mounts || { echo "fs_test.sh: $MNT is not a virtiofs mount"; exit 2; }
BIG_MIB=64
MANY=10000
[ -f host/params ] && . host/params
mkdir out scratch

section "create, read, write, append"
echo hello > out/created.txt
expect_eq "read back a new file" "$(cat out/created.txt)" "hello"
echo line2 >> out/created.txt
expect_eq "append" "$(cat out/created.txt)" "hello
line2"
printf 0123456789 > out/offset.txt
printf XY | dd of=out/offset.txt bs=1 seek=4 conv=notrunc 2>/dev/null
expect_eq "write in the middle" "$(cat out/offset.txt)" "0123XY6789"
printf 'long content' > out/trunc.txt
printf x > out/trunc.txt
expect_eq "O_TRUNC rewrite" "$(cat out/trunc.txt)" "x"
truncate -s 1000 out/truncated.bin
expect_eq "truncate -s 1000" "$(stat -c %s out/truncated.bin)" 1000
dd if=/dev/zero of=out/sparse.bin bs=1 count=1 seek=10485759 2>/dev/null
expect_eq "write at 10 MiB - 1" "$(stat -c %s out/sparse.bin)" 10485760
expect_eq "read a host file" "$(cat host/small.txt)" "host text"
expect_fail "open a missing file" cat out/no-such-file
expect_ok "statfs" df "$MNT"

section "$BIG_MIB MiB written by the guest"
# 1 MiB writes (FUSE max_write), not a pipe: every FUSE request costs milliseconds under TCG.
dd if=/dev/urandom of=out/guest-big.bin bs=1M count="$BIG_MIB" 2>/dev/null
expect_eq "size of the guest-written file" "$(stat -c %s out/guest-big.bin)" $((BIG_MIB * 1048576))
# The host compares its own md5 of what reached its disk with the guest's view of the file.
md5sum out/guest-big.bin | cut -d' ' -f1 > out/guest-big.md5

section "$(($(stat -c %s host/big.bin) / 1048576)) MiB written by the host, read by the guest"
expect_eq "md5 of host/big.bin" "$(md5sum host/big.bin | cut -d' ' -f1)" "$(cat host/big.md5)"

section "rename"
echo moved > out/rename-src.txt
mv out/rename-src.txt out/renamed.txt
expect_fail "old name is gone" test -e out/rename-src.txt
expect_eq "new name has the content" "$(cat out/renamed.txt)" moved
echo old > out/replaced.txt
echo new > scratch/replacer.txt
mv scratch/replacer.txt out/replaced.txt
expect_eq "rename over an existing file, across directories" "$(cat out/replaced.txt)" new
mkdir scratch/dir-a
echo inside > scratch/dir-a/file.txt
mv scratch/dir-a out/dir-b
expect_eq "rename a directory" "$(cat out/dir-b/file.txt)" inside

section "hard and symbolic links"
echo target > out/link-target.txt
ln out/link-target.txt out/hardlink.txt
expect_eq "link count after ln" "$(stat -c %h out/link-target.txt)" 2
echo more >> out/hardlink.txt
expect_eq "write through the hard link shows in the target" "$(cat out/link-target.txt)" "target
more"
echo once > out/unlinked-twin.txt
ln out/unlinked-twin.txt scratch/twin.txt
rm scratch/twin.txt
expect_eq "link count after unlinking the twin" "$(stat -c %h out/unlinked-twin.txt)" 1
ln -s link-target.txt out/symlink
expect_eq "readlink" "$(readlink out/symlink)" link-target.txt
expect_eq "read through the symlink" "$(head -n 1 out/symlink)" target
ln -s does-not-exist out/dangling
expect_eq "dangling symlink target" "$(readlink out/dangling)" does-not-exist
expect_fail "dangling symlink does not resolve" cat out/dangling
ln -s ../out/dir-b out/dir-link
expect_eq "symlink to a directory" "$(cat out/dir-link/file.txt)" inside

section "chmod, chown, utimes"
echo m > out/mode640.txt
chmod 640 out/mode640.txt
expect_eq "chmod 640" "$(stat -c %a out/mode640.txt)" 640
echo x > out/mode4755.bin
chmod 4755 out/mode4755.bin
expect_eq "chmod 4755 (setuid)" "$(stat -c %a out/mode4755.bin)" 4755
mkdir out/sticky-dir
chmod 1777 out/sticky-dir
expect_eq "chmod 1777 on a directory" "$(stat -c %a out/sticky-dir)" 1777
echo o > out/owned.txt
chown 1234:5678 out/owned.txt
expect_eq "chown 1234:5678" "$(stat -c %u:%g out/owned.txt)" 1234:5678
echo t > out/dated.txt
touch -d "2001-02-03 04:05:06" out/dated.txt
# The guest runs in UTC: 2001-02-03 04:05:06 UTC is 981173106 s after the epoch.
expect_eq "touch -d sets mtime" "$(stat -c %Y out/dated.txt)" 981173106

section "mkfifo, mknod"
mkfifo out/fifo
expect_eq "mkfifo makes a fifo" "$(stat -c %F out/fifo)" "fifo"
mknod out/chardev c 1 3
expect_eq "mknod c 1 3" "$(stat -c '%F %t %T' out/chardev)" "character special file 1 3"
mknod out/blockdev b 7 0
expect_eq "mknod b 7 0" "$(stat -c '%F %t %T' out/blockdev)" "block special file 7 0"

section "xattrs"
if command -v xattr >/dev/null; then
  echo x > out/xattr.txt
  expect_ok "setxattr user.test" xattr set out/xattr.txt user.test value1
  expect_ok "setxattr user.gone" xattr set out/xattr.txt user.gone soon
  expect_eq "getxattr user.test" "$(xattr get out/xattr.txt user.test)" value1
  expect_eq "listxattr" "$(xattr list out/xattr.txt | grep '^user\.' | sort | tr '\n' ' ')" "user.gone user.test "
  expect_ok "removexattr user.gone" xattr remove out/xattr.txt user.gone
  expect_fail "getxattr of a removed attribute" xattr get out/xattr.txt user.gone
else
  echo "SKIP xattrs: no xattr helper in the initramfs (scripts/setup.sh builds it with gcc)"
fi

section "a directory of $MANY entries"
mkdir scratch/many
(cd scratch/many && seq 1 "$MANY" | xargs touch)
names=$(ls scratch/many | sort -n)
expect_eq "ls lists all $MANY" "$(echo "$names" | wc -l)" "$MANY"
expect_eq "every name is there, once" "$(echo "$names" | md5sum)" "$(seq 1 "$MANY" | md5sum)"
expect_eq "ls -l (readdirplus or lookups) lists all $MANY" "$(ls -l scratch/many | grep -c '^-')" "$MANY"

section "a tree 50 levels deep"
d=scratch/deep
i=0
while [ $i -lt 50 ]; do d=$d/d$i; i=$((i + 1)); done
mkdir -p "$d"
echo bottom > "$d/leaf.txt"
expect_eq "read the leaf" "$(cat "$d/leaf.txt")" bottom
expect_eq "find sees 50 directories" "$(find scratch/deep -mindepth 1 -type d | wc -l)" 50
expect_fail "rmdir of a non-empty directory" rmdir scratch/deep
expect_fail "mkdir of an existing directory" mkdir scratch/deep

section "remove everything"
rm -rf scratch
expect_fail "scratch is gone" test -e scratch
expect_eq "only host/ and out/ remain" "$(ls "$MNT" | tr '\n' ' ')" "host out "
sync

section "virtqueue interrupts (informational: which request queues this guest used)"
grep virtio /proc/interrupts || true

finish_checks
