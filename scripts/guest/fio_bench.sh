# Guest side of scripts/bench_guest.sh (busybox sh; needs run_vm.sh --with-fio). Runs fio workloads on
# the virtio-fs mount and leaves fio's JSON report of each in /mnt/$FIO_RESULTS/NAME.json.
# The host prepends the parameters as variable assignments (defaults below):
#   FIO_WORKLOADS  names, space-separated (see workload_args)
#   FIO_RUNTIME    measured seconds per workload (time_based); FIO_RAMP unmeasured seconds before it
#   FIO_IOS        if set, count-bounded instead: every job does exactly this many I/Os (the CI smoke)
#   FIO_DATA       directory under /mnt holding the files the host prepared: "read" (random and mixed
#                  workloads, sequential read) and "write" (sequential write), each FIO_SIZE large
#   FIO_RESULTS    directory under /mnt for the reports
: "${FIO_WORKLOADS:=randread-4k-qd1}" "${FIO_RUNTIME:=3}" "${FIO_RAMP:=1}" "${FIO_IOS:=}"
: "${FIO_DATA:=fio-data}" "${FIO_RESULTS:=fio-results}" "${FIO_SIZE:=64m}"

# Every workload: O_DIRECT through libaio, so each I/O is a FUSE request (no guest page cache) and the
# depth is real (the daemons grant FUSE_ASYNC_DIO, so the guest keeps iodepth requests in flight).
workload_args() {
  case $1 in
    randread-4k-qd1) echo "--rw=randread --bs=4k --iodepth=1 --numjobs=1 --filename=$FIO_DATA/read" ;;
    randread-4k-qd16) echo "--rw=randread --bs=4k --iodepth=16 --numjobs=1 --filename=$FIO_DATA/read" ;;
    seqread-1m) echo "--rw=read --bs=1m --iodepth=4 --numjobs=1 --filename=$FIO_DATA/read" ;;
    seqwrite-1m) echo "--rw=write --bs=1m --iodepth=4 --numjobs=1 --filename=$FIO_DATA/write" ;;
    # The 70/30 4 KiB mix that QEMU's FUSE-over-io_uring work reports, at depth 1 and 64, 1 and 4 jobs
    # (all jobs on the one file, as on a shared disk image).
    randrw70-4k-qd1-j1) echo "--rw=randrw --rwmixread=70 --bs=4k --iodepth=1 --numjobs=1 --filename=$FIO_DATA/read" ;;
    randrw70-4k-qd1-j4) echo "--rw=randrw --rwmixread=70 --bs=4k --iodepth=1 --numjobs=4 --filename=$FIO_DATA/read" ;;
    randrw70-4k-qd64-j1) echo "--rw=randrw --rwmixread=70 --bs=4k --iodepth=64 --numjobs=1 --filename=$FIO_DATA/read" ;;
    randrw70-4k-qd64-j4) echo "--rw=randrw --rwmixread=70 --bs=4k --iodepth=64 --numjobs=4 --filename=$FIO_DATA/read" ;;
    *) return 1 ;;
  esac
}

if [ -n "$FIO_IOS" ]; then
  # io_size far beyond the file makes fio wrap around it, so number_ios alone ends each job.
  bound="--number_ios=$FIO_IOS --io_size=64g"
else
  bound="--time_based --runtime=$FIO_RUNTIME --ramp_time=$FIO_RAMP"
fi

fails=0
mkdir -p /tmp/fio "$FIO_RESULTS"
for w in $FIO_WORKLOADS; do
  if ! args=$(workload_args "$w"); then
    echo "fio_bench: unknown workload $w"
    fails=$((fails + 1))
    continue
  fi
  echo "== fio $w"
  # --thread: jobs as threads, no SysV shared memory needed in the initramfs guest.
  # shellcheck disable=SC2086 # args and bound are option lists, word-split on purpose
  if fio --name="$w" $args $bound --size="$FIO_SIZE" --ioengine=libaio --direct=1 --thread \
       --group_reporting --eta=never --output-format=json --output="/tmp/fio/$w.json"; then
    # The report goes to the host through the share, after the measured run.
    cp "/tmp/fio/$w.json" "$FIO_RESULTS/$w.json"
    echo "== fio $w: ok"
  else
    echo "== fio $w: FAILED with $?"
    cat "/tmp/fio/$w.json" 2>/dev/null
    fails=$((fails + 1))
  fi
done
[ "$fails" -eq 0 ]
