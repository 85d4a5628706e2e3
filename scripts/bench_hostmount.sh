#!/usr/bin/env bash
# Host-mount benchmark: the daemon's `mount` mode serving a share on a host mount point through classic
# /dev/fuse read/write and through FUSE-over-io_uring, beside libfuse 3.18's passthrough_hp (Debian's fuse3
# source, built by scripts/build_libfuse.sh into .cache/) on /dev/fuse and with `-o io_uring`, all four in one
# run, in a rotating order every round. Points: QEMU's FUSE-export mix (fio 70/30 randrw, 4 KiB, O_DIRECT,
# iodepth 1 and 64 x numjobs 1 and 4), 1 MiB O_DIRECT sequential reads (iodepth 4), and file creates per
# second (fio's filecreate engine). Medians over the rounds go to a markdown report. Needs root, fio, and a
# kernel with FUSE-over-io_uring (Linux >= 6.14); fuse.enable_uring is switched on for the run and restored after.
#   scripts/bench_hostmount.sh                      # 3 rounds x 10 s per point -> docs/hostmount-benchmark.md
#   scripts/bench_hostmount.sh --rounds 5 --runtime 20 --size 512M
#   scripts/bench_hostmount.sh --no-libfuse         # ours only (no libfuse build)
#   REALTIME=1 scripts/bench_hostmount.sh           # servers and fio under SCHED_FIFO (chrt -f 1): steadier on a busy machine
#   scripts/bench_hostmount.sh --smoke --output /tmp/x.md --daemon PATH   # ours only, 1 round, 1 s, 16 MiB (the test)
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
rounds=3 runtime=10 size=256M output="$repo/docs/hostmount-benchmark.md" daemon="" libfuse=1 creates=5000
while [ $# -gt 0 ]; do
    case "$1" in
        --rounds) rounds=$2; shift 2 ;;
        --runtime) runtime=$2; shift 2 ;;
        --size) size=$2; shift 2 ;;
        --output) output=$2; shift 2 ;;
        --daemon) daemon=$2; shift 2 ;;
        --no-libfuse) libfuse=0; shift ;;
        --smoke) rounds=1 runtime=1 size=16M creates=200 libfuse=0; shift ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
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
rt=()
if [ "${REALTIME:-0}" = 1 ]; then
    rt=(chrt -f 1)
fi
servers="ours-dev ours-uring"
lf=""
if [ $libfuse = 1 ]; then
    lf=$("$repo/scripts/build_libfuse.sh")
    servers="$servers libfuse-dev libfuse-uring"
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
    grep -q " $share " /proc/mounts && umount -l "$share"
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

# The share is a tmpfs: both servers' host I/O is then a memory copy whatever they do with O_DIRECT
# (passthrough_hp keeps it on its host open, ours drops it without --allow-direct-io), so the transports
# and servers are measured, not a disk shared with other work. The data files are written on the host
# side so that laying them out is not measured (fio names them bench.<job>; each job has its own file).
bytes=$(numfmt --from=iec "$size")
mount -t tmpfs -o "size=$((bytes * 4 + 256 * 1024 * 1024))" tmpfs "$share"
for j in 0 1 2 3; do
    head -c "$bytes" /dev/urandom > "$share/bench.$j"
done

start_server() { # $1 = server
    local log=$work/$1.log
    case $1 in
        ours-dev) "${rt[@]}" "$daemon" mount --shared-dir "$share" --mountpoint "$mnt" --transport dev > "$log" 2>&1 & ;;
        ours-uring) "${rt[@]}" "$daemon" mount --shared-dir "$share" --mountpoint "$mnt" --transport uring > "$log" 2>&1 & ;;
        # --nopassthrough: READ/WRITE are served by the daemon (by default passthrough_hp hands them to the
        # kernel's FUSE passthrough, which no transport sees); its other defaults stay.
        libfuse-dev) "${rt[@]}" "$lf" --foreground --nopassthrough "$share" "$mnt" > "$log" 2>&1 & ;;
        libfuse-uring) "${rt[@]}" "$lf" --foreground --nopassthrough -o io_uring "$share" "$mnt" > "$log" 2>&1 & ;;
    esac
    pid=$!
    for _ in $(seq 100); do
        grep -q " $mnt " /proc/mounts && { [ "${1%%-*}" != ours ] || grep -q "FUSE session up" "$log"; } && break
        sleep 0.1
    done
    grep -q " $mnt " /proc/mounts || { cat "$log" >&2; echo "mount of $1 failed" >&2; exit 1; }
    stat "$mnt/bench.0" > /dev/null # INIT done, and with it the rings registered
    if [ "$1" = libfuse-uring ] && ! grep -q "^fuse-ring" /proc/"$pid"/task/*/comm; then
        cat "$log" >&2; echo "passthrough_hp -o io_uring runs no io_uring queue threads" >&2; exit 1
    fi
}

stop_server() { # $1 = server
    kill -TERM "$pid"
    # passthrough_hp unmounts on SIGTERM but exits 1 all the same (fuse_session_exit); ours exits 0.
    wait "$pid" || [ "${1%%-*}" = libfuse ] || { cat "$work/$1.log" >&2; echo "$1 failed" >&2; exit 1; }
    pid=""
    grep -q " $mnt " /proc/mounts && umount -l "$mnt"
    [ "$1" = ours-uring ] && grep "Served" "$work/$1.log" >> "$work/served.txt"
    true
}

# fio's terse v3 with group reporting, one line: read bw KiB/s = 7, read IOPS = 8, read lat mean us = 40,
# write bw = 48, write IOPS = 49, write lat mean = 81 (fio's HOWTO "Terse output"). The filecreate engine
# counts each created file as a read.
record() { # server point round
    awk -F';' -v s="$1" -v p="$2" -v r="$3" \
        '$1 == 3 { printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", s, p, r, $7, $40, $48, $81, $8, $49 }' >> "$results"
}
fio_common=(--directory="$mnt" --group_reporting --minimal --terse-version=3)

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
set -- $servers
count=$#
for round in $(seq "$rounds"); do
    # Rotate the order every round, so that no server always runs first (or last) after the others.
    order=""
    for i in $(seq 0 $((count - 1))); do
        order="$order $(echo $servers | cut -d' ' -f$(( (i + round - 1) % count + 1 )))"
    done
    for s in $order; do
        start_server "$s"
        for depth in 1 64; do
            for jobs in 1 4; do
                "${rt[@]}" fio --name=mix "${fio_common[@]}" --filename_format='bench.$jobnum' --size="$size" \
                    --rw=randrw --rwmixread=70 --bs=4k --ioengine=io_uring --direct=1 \
                    --iodepth="$depth" --numjobs="$jobs" --runtime="$runtime" --time_based | record "$s" "mix-$depth-$jobs" "$round"
            done
        done
        "${rt[@]}" fio --name=seq "${fio_common[@]}" --filename=bench.0 --size="$size" --rw=read --bs=1M --ioengine=io_uring \
            --direct=1 --iodepth=4 --runtime="$runtime" --time_based | record "$s" seqread-1M "$round"
        mkdir "$share/creates"
        "${rt[@]}" fio --name=creates --directory="$mnt/creates" --group_reporting --minimal --terse-version=3 --ioengine=filecreate \
            --fallocate=none --filesize=4k --nrfiles="$creates" --openfiles=1 | record "$s" creates "$round"
        rm -rf "$share/creates"
        stop_server "$s"
    done
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# Medians per (server, point) of a column: 4 read KiB/s, 5 read lat, 6 write KiB/s, 7 write lat, 8 read IOPS, 9 write IOPS.
median() { sort -g | awk '{ v[NR] = $1 } END { if (NR == 0) print ""; else if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
value() { # server point column
    awk -F'\t' -v s="$1" -v p="$2" -v c="$3" '$1 == s && $2 == p { print $c }' "$results" | median
}
has() { case " $servers " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
mibs() { awk -v v="$1" 'BEGIN { printf "%.1f", v / 1024 }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0 && a != "") printf "%.2fx", a / b; else printf "-" }'; }
mix_cell() { # server point: "read / write MiB/s"
    if has "$1"; then echo "$(mibs "$(value "$1" "$2" 4)") / $(mibs "$(value "$1" "$2" 6)")"; else echo "-"; fi
}
total() { # server point: read + write KiB/s
    has "$1" || { echo ""; return; }
    awk -v r="$(value "$1" "$2" 4)" -v w="$(value "$1" "$2" 6)" 'BEGIN { print r + w }'
}

uring_requests=$(sed -n 's/.* and \([0-9]*\) through io_uring.*/\1/p' "$work/served.txt" | tail -1)
if [ "${uring_requests:-0}" -eq 0 ]; then
    echo "bench_hostmount.sh: the uring runs served nothing through io_uring (they fell back to /dev/fuse):" >&2
    cat "$work/ours-uring.log" >&2
    exit 1
fi
{
    echo "# Host-mount benchmark: ours and libfuse 3.18, /dev/fuse and FUSE-over-io_uring"
    echo
    echo "Generated by \`scripts/bench_hostmount.sh\` ($(date -u +%Y-%m-%d)): \`virtiofsd mount\` (\"ours\", the NativeAOT"
    echo "binary) and libfuse 3.18.3's \`example/passthrough_hp --nopassthrough\` (Debian's fuse3 source, built by"
    echo "\`scripts/build_libfuse.sh\`), each once on /dev/fuse and once with FUSE-over-io_uring (\`--transport uring\`,"
    echo "\`-o io_uring\`), serving the same tmpfs share; ${rounds} round(s), the four in a rotating order every round,"
    echo "${runtime} s per fio point, medians. Mix = QEMU's FUSE-export numbers: fio 70/30 \`randrw\` 4 KiB,"
    echo "\`ioengine=io_uring\`, \`direct=1\` (O_DIRECT on the mount: every block is one FUSE request), one ${size} file per job."
    echo
    echo "| point | ours /dev/fuse | ours io_uring | libfuse /dev/fuse | libfuse io_uring | ours uring / ours dev | ours uring / libfuse uring |"
    echo "|---|---:|---:|---:|---:|---:|---:|"
    for depth in 1 64; do
        for jobs in 1 4; do
            p=mix-$depth-$jobs
            printf "| mix iodepth %s numjobs %s, read / write MiB/s | %s | %s | %s | %s | %s | %s |\n" "$depth" "$jobs" \
                "$(mix_cell ours-dev $p)" "$(mix_cell ours-uring $p)" "$(mix_cell libfuse-dev $p)" "$(mix_cell libfuse-uring $p)" \
                "$(ratio "$(total ours-uring $p)" "$(total ours-dev $p)")" "$(ratio "$(total ours-uring $p)" "$(total libfuse-uring $p)")"
        done
    done
    cell() { has "$1" && echo "$2" || echo "-"; }
    printf "| 1 MiB O_DIRECT sequential reads, iodepth 4, MiB/s | %s | %s | %s | %s | %s | %s |\n" \
        "$(mibs "$(value ours-dev seqread-1M 4)")" "$(mibs "$(value ours-uring seqread-1M 4)")" \
        "$(cell libfuse-dev "$(mibs "$(value libfuse-dev seqread-1M 4)")")" "$(cell libfuse-uring "$(mibs "$(value libfuse-uring seqread-1M 4)")")" \
        "$(ratio "$(value ours-uring seqread-1M 4)" "$(value ours-dev seqread-1M 4)")" \
        "$(ratio "$(value ours-uring seqread-1M 4)" "$(value libfuse-uring seqread-1M 4)")"
    printf "| file creates per second (%s files, one job) | %s | %s | %s | %s | %s | %s |\n" "$creates" \
        "$(value ours-dev creates 8)" "$(value ours-uring creates 8)" \
        "$(cell libfuse-dev "$(value libfuse-dev creates 8)")" "$(cell libfuse-uring "$(value libfuse-uring creates 8)")" \
        "$(ratio "$(value ours-uring creates 8)" "$(value ours-dev creates 8)")" \
        "$(ratio "$(value ours-uring creates 8)" "$(value libfuse-uring creates 8)")"
    echo
    echo "Mean completion latency of the mix's reads (fio's total latency, microseconds):"
    echo
    echo "| iodepth | numjobs | ours /dev/fuse | ours io_uring | libfuse /dev/fuse | libfuse io_uring |"
    echo "|---:|---:|---:|---:|---:|---:|"
    for depth in 1 64; do
        for jobs in 1 4; do
            row="| $depth | $jobs |"
            for s in ours-dev ours-uring libfuse-dev libfuse-uring; do
                row="$row $(has $s && value $s "mix-$depth-$jobs" 5 | awk '{ printf "%.0f", $1 }' || echo -) |"
            done
            echo "$row"
        done
    done
    echo
    echo "Servers as they run by default: ours /dev/fuse = 4 threads reading /dev/fuse; ours io_uring = one queue per"
    echo "possible CPU ($(nproc --all) here), 16 entries each, one thread per queue pinned to its CPU (INIT, FORGET and"
    echo "INTERRUPT still come through /dev/fuse; the last run served ${uring_requests} requests through io_uring);"
    echo "passthrough_hp = libfuse's multi-threaded loop on /dev/fuse, or with \`-o io_uring\` one queue thread per CPU,"
    echo "8 entries each. Both answer an O_DIRECT open with FOPEN_DIRECT_IO | FOPEN_PARALLEL_DIRECT_WRITES."
    echo
    echo "## Machine"
    echo
    echo "- Kernel $(uname -r), $(nproc) CPUs ($(sed -n 's/^model name\s*: //p' /proc/cpuinfo | head -1))"
    echo "- Share on tmpfs, $(fio --version)$([ ${#rt[@]} -gt 0 ] && echo ", servers and fio under SCHED_FIFO (REALTIME=1)")"
    echo "- Load average (1/5/15 min) at start $load_start, at end $load_end (a shared machine: other work"
    echo "  ran alongside, which the rotating order spreads over all four servers)"
    echo
    echo "## Raw results"
    echo
    echo "server, point, round, read KiB/s, read lat us, write KiB/s, write lat us, read IOPS (creates: files/s), write IOPS:"
    echo
    echo '```'
    cat "$results"
    echo '```'
} > "$output"
echo "wrote $output"
