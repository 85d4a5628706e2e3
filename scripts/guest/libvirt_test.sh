# The libvirt tests' guest script (tests/VirtioFsd.Tests/Libvirt), run by scripts/guest/init with the share as
# the working directory, in a domain libvirt started with our daemon as its virtiofs <binary>. It reads what the
# host left, writes, appends, renames, removes, chowns and sets an xattr; the host then checks each result, and
# compares the checksums printed here with the bytes it finds. Stops at the first failing command (set -e); init
# reports the status on the console.
set -e
token=$(cat from-host.txt)
echo "guest read: $token"
echo "seen by the guest: $token" > from-guest.txt
echo "appended" >> from-guest.txt
mkdir dir
echo "renamed by the guest" > dir/before.txt
mv dir/before.txt dir/after.txt
rm to-remove.txt
echo "owned by 1000" > owned-by-1000.txt
chown 1000:1000 owned-by-1000.txt
# <binary xattr='on'>: without the option reaching the daemon, setxattr fails with EOPNOTSUPP.
xattr set from-guest.txt user.libvirt "set in the guest"
# 4 MiB in 64 KiB writes, read back once the guest's page cache is dropped, so the bytes come from the host.
dd if=/dev/urandom of=random.bin bs=65536 count=64 2>/dev/null
echo "guest wrote md5 $(md5sum random.bin | cut -d' ' -f1)"
sync
echo 3 > /proc/sys/vm/drop_caches
echo "guest reread md5 $(md5sum random.bin | cut -d' ' -f1)"
ls -ln . dir
