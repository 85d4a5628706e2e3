# Guest side of the live migration VM tests (busybox sh, cwd = the virtio-fs mount /mnt). The host made mig/
# with ro.bin (random bytes), ro.md5 (its checksum), victim.txt and params (WRITERS=N, VICTIM=ok|error|skip).
# Before the migration the guest opens ro.bin and reads its first 64 KiB, holds log<k>.txt open for appending and
# victim.txt open for reading; N writers append numbered records (with a checksum the host verifies) and N readers
# check ro.bin's checksum in a loop, until the host says the migration is over (mig/migrated). Then, on whichever
# side the guest now runs, it goes on with the same open files: the rest of ro.bin, more records through the same
# fds, the victim as the host announced; the host checks the records and the tree afterwards.
. /guest/lib.sh
cd /mnt/mig || exit 2
. ./params

section "before the migration"
exec 3< ro.bin
dd bs=4096 count=16 <&3 > /tmp/part1 2>/dev/null
exec 5< victim.txt
k=0
while [ $k -lt "$WRITERS" ]; do
  # Each writer appends through a descriptor (6..9) opened once here and held across the migration.
  fd=$((6 + k))
  eval "exec $fd>> log$k.txt"
  (
    i=0
    while [ ! -e /mnt/mig/migrated ]; do
      echo "$i $(echo "record $k $i" | md5sum | cut -c1-32)" >&$fd
      i=$((i + 1))
    done
    echo "$i" > "/tmp/count$k"
  ) &
  (
    while [ ! -e /mnt/mig/migrated ]; do
      [ "$(md5sum < ro.bin | cut -c1-32)" = "$(cat ro.md5)" ] || echo bad >> /tmp/reader.bad
    done
  ) &
  k=$((k + 1))
done
sleep 2
: > /mnt/mig/ready
wait
end_section

section "after the migration"
dd bs=4096 <&3 > /tmp/part2 2>/dev/null
expect_eq "ro.bin through the descriptor opened before" "$(cat /tmp/part1 /tmp/part2 | md5sum | cut -c1-32)" "$(cat ro.md5)"
expect_eq "ro.bin read while migrating" "$(cat /tmp/reader.bad 2>/dev/null | wc -l)" 0
expect_eq "ro.bin read again" "$(md5sum < ro.bin | cut -c1-32)" "$(cat ro.md5)"
k=0
while [ $k -lt "$WRITERS" ]; do
  n=$(cat "/tmp/count$k")
  [ "$n" -gt 0 ] || fail "writer $k wrote nothing"
  # Go on through the descriptor held since before: the records must continue without a gap.
  fd=$((6 + k))
  j=0
  while [ $j -lt 20 ]; do
    i=$((n + j))
    echo "$i $(echo "record $k $i" | md5sum | cut -c1-32)" >&$fd || fail "append through the held descriptor of log$k.txt"
    j=$((j + 1))
  done
  eval "exec $fd>&-"
  expect_eq "log$k records in order" "$(awk 'NR - 1 != $1 { bad++ } END { print bad + 0 }' "log$k.txt")" 0
  expect_eq "log$k record count" "$(wc -l < "log$k.txt")" "$((n + 20))"
  k=$((k + 1))
done
case $VICTIM in
  ok) expect_eq "victim through the descriptor opened before" "$(cat <&5)" victim ;;
  error) expect_fail "victim through the descriptor opened before (it could not be migrated)" cat <&5 ;;
esac
exec 5<&-
exec 3<&-
echo "guest: wrote the records" > done.txt
finish_checks
