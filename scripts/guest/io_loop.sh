#!/bin/busybox sh
# Guest script for the QEMU-killed-mid-I/O test (tests/VirtioFsd.Tests/Faults/QemuKillTests): writes,
# fsyncs, reads and lists in /mnt without end, so qemu is killed with requests in flight. Never exits
# by itself; run_vm.sh's --timeout bounds it if nobody kills qemu.
i=0
while true; do
  f=/mnt/io-loop-$((i % 4))
  dd if=/dev/urandom of="$f" bs=64k count=8 conv=fsync 2>/dev/null
  cat "$f" > /dev/null
  ls -l /mnt > /dev/null
  echo "$i" > /mnt/io-loop-count
  i=$((i + 1))
done
