#!/usr/bin/env bash
# Host-mount benchmark: the daemon's `mount` mode serves a share on a host mount point, once through
# classic /dev/fuse read/write ("legacy") and once through FUSE-over-io_uring ("uring"), alternating
# in each round; fio runs 70/30 random read/write of 4 KiB blocks, O_DIRECT (every block is a FUSE
# request), iodepth 1 and 64 x numjobs 1 and 4. The medians over the rounds go to a markdown report
# (bandwidth and mean completion+submission latency, legacy -> uring with the change in %), the way
# QEMU's FUSE-over-io_uring export series reports its numbers. Needs root, fio, and a kernel with
# FUSE-over-io_uring (Linux >= 6.14); fuse.enable_uring is switched on for the run and restored after.
#   scripts/bench_hostmount.sh                      # 3 rounds x 10 s per point -> docs/hostmount-benchmark.md
#   scripts/bench_hostmount.sh --rounds 5 --runtime 20 --size 512M
#   scripts/bench_hostmount.sh --smoke --output /tmp/x.md --daemon PATH   # 1 round, 1 s, 16 MiB (what the test runs)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
rounds=3 runtime=10 size=256M output="$repo/docs/hostmount-benchmark.md" daemon=""
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds=$2; shift 2 ;;
        --runtime) runtime=$2; shift 2 ;;
        --size) size=$2; shift 2 ;;
        --output) output=$2; shift 2 ;;
        --daemon) daemon=$2; shift 2 ;;
        --smoke) rounds=1 runtime=1 size=16M; shift ;;
        -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "bench_hostmount.sh: mounting needs root" >&2; exit 1; }
command -v fio >/dev/null || { echo "bench_hostmount.sh: fio is missing (scripts/setup.sh installs it)" >&2; exit 1; }
if [ -z "$daemon" ]; then
    # The NativeAOT publish scripts/setup.sh makes (it rebuilds it when sources changed).
    "$repo/scripts/setup.sh"
    daemon="$repo/.cache/daemon/publish/VirtioFsd/release_linux-x64/virtiofsd"
fi

param=/sys/module/fuse/parameters/enable_uring
work=$(mktemp -d /tmp/bench-hostmount.XXXXXX)
share=$work/share mnt=$work/mnt results=$work/results.tsv
mkdir -p "$share" "$mnt"
orig_uring=""
[ -f "$param" ] && orig_uring=$(cat "$param")
pid=""
cleanup() {
    if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then kill -TERM "$pid"; wait "$pid" || true; fi
    grep -q " $mnt " /proc/mounts && umount -l "$mnt"
    [ -n "$orig_uring" ] && echo "$orig_uring" > "$param"
    rm -rf "$work"
}
trap cleanup EXIT
# Without the switch the "uring" runs would quietly measure /dev/fuse a second time: refuse instead.
if [ ! -f "$param" ]; then
    echo "bench_hostmount.sh: this kernel has no FUSE-over-io_uring ($param is missing; Linux >= 6.14 has it)" >&2
    exit 3
fi
if ! echo Y > "$param" 2>/dev/null || [ "$(cat "$param")" != Y ]; then
    echo "bench_hostmount.sh: cannot switch $param on (run as root)" >&2
    exit 3
fi

# The data files, written on the host side so that laying them out is not measured (fio names them
# bench.<job>; every job works on its own file).
bytes=$(numfmt --from=iec "$size")
for j in 0 1 2 3; do
    head -c "$bytes" /dev/urandom > "$share/bench.$j"
done

start_daemon() { # $1 = dev | uring
    "$daemon" mount --shared-dir "$share" --mountpoint "$mnt" --transport "$1" > "$work/daemon-$1.log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do
        grep -q "FUSE session up" "$work/daemon-$1.log" 2>/dev/null && grep -q " $mnt " /proc/mounts && break
        sleep 0.1
    done
    grep -q " $mnt " /proc/mounts || { cat "$work/daemon-$1.log" >&2; echo "mount failed" >&2; exit 1; }
}

stop_daemon() {
    kill -TERM "$pid"
    wait "$pid" || { cat "$work/daemon-$1.log" >&2; echo "daemon failed" >&2; exit 1; }
    pid=""
    grep "Served" "$work/daemon-$1.log" >> "$work/served.txt"
}

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
for round in $(seq "$rounds"); do
    if [ $((round % 2)) = 1 ]; then order="dev uring"; else order="uring dev"; fi
    for t in $order; do
        start_daemon "$t"
        for depth in 1 64; do
            for jobs in 1 4; do
                # Terse v3 with group reporting: one line; read bw KiB/s = 7, read lat mean us = 40,
                # write bw = 48, write lat mean = 81 (fio's HOWTO "Terse output").
                fio --name=bench --directory="$mnt" --filename_format='bench.$jobnum' --size="$size" \
                    --rw=randrw --rwmixread=70 --bs=4k --ioengine=io_uring --direct=1 \
                    --iodepth="$depth" --numjobs="$jobs" --runtime="$runtime" --time_based \
                    --group_reporting --minimal --terse-version=3 \
                | awk -F';' -v t="$t" -v d="$depth" -v j="$jobs" -v r="$round" \
                    '$1 == 3 { printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", t, d, j, r, $7, $40, $48, $81 }' >> "$results"
            done
        done
        stop_daemon "$t"
    done
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# Medians per (transport, depth, jobs): columns read MiB/s, read lat us, write MiB/s, write lat us.
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
value() { # transport depth jobs column(5..8)
    awk -F'\t' -v t="$1" -v d="$2" -v j="$3" -v c="$4" '$1 == t && $2 == d && $3 == j { print $c }' "$results" | median
}
cell() { # legacy uring scale decimals: "a -> b (+x%)"
    awk -v a="$1" -v b="$2" -v s="$3" -v p="$4" 'BEGIN {
        fmt = "%." p "f"; pct = a > 0 ? (b - a) * 100 / a : 0
        printf fmt " -> " fmt " (%+.0f%%)", a / s, b / s, pct }'
}

uring_requests=$(grep -h "Served" "$work"/daemon-uring.log | sed -n 's/.* and \([0-9]*\) through io_uring.*/\1/p' | tail -1)
if [ "${uring_requests:-0}" -eq 0 ]; then
    echo "bench_hostmount.sh: the uring runs served nothing through io_uring (they fell back to /dev/fuse):" >&2
    cat "$work"/daemon-uring.log >&2
    exit 1
fi
{
    echo "# Host-mount benchmark: /dev/fuse (legacy) -> FUSE-over-io_uring"
    echo
    echo "Generated by \`scripts/bench_hostmount.sh\` ($(date -u +%Y-%m-%d)): \`virtiofsd mount\` serving a share"
    echo "on a host mount point, fio 70/30 \`randrw\` 4 KiB, \`ioengine=io_uring\`, \`direct=1\` (O_DIRECT:"
    echo "no page cache, every block is one FUSE request), ${runtime} s per point, one ${size} file per job,"
    echo "median of ${rounds} round(s) with the two transports alternating. Cells are legacy -> uring (change)."
    echo "Bandwidth in MiB/s; latency is fio's mean total latency (submission + completion) in microseconds."
    echo
    echo "| iodepth | numjobs | read MiB/s | write MiB/s | read latency us | write latency us |"
    echo "|---:|---:|---|---|---|---|"
    for depth in 1 64; do
        for jobs in 1 4; do
            printf "| %s | %s | %s | %s | %s | %s |\n" "$depth" "$jobs" \
                "$(cell "$(value dev $depth $jobs 5)" "$(value uring $depth $jobs 5)" 1024 1)" \
                "$(cell "$(value dev $depth $jobs 7)" "$(value uring $depth $jobs 7)" 1024 1)" \
                "$(cell "$(value dev $depth $jobs 6)" "$(value uring $depth $jobs 6)" 1 0)" \
                "$(cell "$(value dev $depth $jobs 8)" "$(value uring $depth $jobs 8)" 1 0)"
        done
    done
    echo
    echo "Transports as the daemon runs them by default: legacy = 4 threads reading /dev/fuse; uring = one"
    echo "queue per possible CPU ($(nproc --all) here), 16 entries each, each queue served by its own thread"
    echo "(INIT and FORGET still go through /dev/fuse). The last uring run served ${uring_requests:-?} requests"
    echo "through io_uring."
    echo
    echo "## Machine"
    echo
    echo "- Kernel $(uname -r), $(nproc) CPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1))"
    echo "- Share on $(df -T "$share" | awk 'NR == 2 { print $2 }'), $(fio --version)"
    echo "- Load average (1/5/15 min) at start $load_start, at end $load_end (a shared machine: other work"
    echo "  ran alongside, which the alternating rounds spread over both transports)"
    echo
    echo "## Raw results"
    echo
    echo "transport, iodepth, numjobs, round, read KiB/s, read lat us, write KiB/s, write lat us:"
    echo
    echo '```'
    cat "$results"
    echo '```'
} > "$output"
echo "wrote $output"
