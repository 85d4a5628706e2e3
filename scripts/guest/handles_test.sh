# Guest side of the inode-handle VM test (busybox sh, cwd = the virtio-fs mount /mnt). The host made
# tree/ (many empty files in d*/ directories, and keep/deep/{a,b}.txt) and tree/expected (the file count).
# The guest walks it all, then holds keep/deep/a.txt open and keep/deep as its cwd while the host moves
# keep/ elsewhere (handshake through /mnt/ready and /mnt/go); afterwards both must still be reachable.
. /guest/lib.sh

section "find over the tree"
expect_eq "files found" "$(find tree -type f | wc -l)" "$(cat tree/expected)"

section "hold a file and a directory, host renames"
cd tree/keep/deep || exit 2
exec 3< a.txt
: > /mnt/ready
i=0
while [ ! -e /mnt/go ]; do
  i=$((i + 1))
  [ $i -le 1200 ] || { fail "the host never created /mnt/go"; break; }
  sleep 0.25
done
# The dentry cache must not answer for what follows: the names were looked up before the rename.
sleep 1.5

section "after the host rename"
read -r line <&3
expect_eq "open file still reads" "$line" alpha
expect_eq "file next to the cwd" "$(cat b.txt)" beta
echo appended >> b.txt || fail "append through the moved cwd"
expect_eq "new path" "$(cat /mnt/moved/deep/a.txt)" alpha
expect_eq "old path gone" "$(ls /mnt/tree/keep 2>&1 >/dev/null | wc -l)" 1
exec 3<&-
cd /mnt || exit 2
finish_checks
