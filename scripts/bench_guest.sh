#!/usr/bin/env bash
# Guest-level benchmark: fio in a TCG guest (scripts/run_vm.sh --with-fio, scripts/guest/fio_bench.sh)
# against our daemon, the Rust virtiofsd 1.13 (the peer users run, from the Debian 13 root setup.sh makes as
# root) and QEMU 7.2's C virtiofsd, in one run: every round boots one guest per set-up,
# the set-ups alternating (order reversed every other round), then regenerates the generated block of
# docs/guest-benchmark.md and docs/guest-benchmark.svg from the medians (scripts/lib/guest_bench_report.py).
#
#   scripts/bench_guest.sh                          1 vCPU, Rust, C and ours, 5 rounds x 2 s per workload (~10 min)
#   scripts/bench_guest.sh --smp 2 --rounds 3       2 vCPUs, the same and ours with 4 queues
#
# Options:
#   --rounds N        boots per set-up (default 5); medians over rounds
#   --runtime S       measured seconds per workload (default 2), after --ramp S unmeasured (default 1)
#   --smp N           guest vCPUs, the same for every set-up (default 1; see docs/guest-benchmark.md)
#   --setups "..."    which set-ups, of: rust rust-pool4 c ours-1q ours-4q (default rust c ours-1q, rust
#                     only where the Debian 13 root is, plus ours-4q when --smp > 1: Linux maps request
#                     queues to CPUs, so one vCPU uses one queue); ratios are to rust, else to c
#   --workloads "..." fio workloads by name (default all; see scripts/guest/fio_bench.sh)
#   --cache MODE      both daemons' cache mode (default auto, both daemons' default)
#   --keep DIR        keep the raw fio JSON, meta.json and the logs there (default: a temp dir, removed)
#   --no-report       measure only (the report needs python3)
#   --md FILE, --svg FILE   where the report goes (default docs/guest-benchmark.md, and
#                     docs/guest-benchmark.svg for --smp 1, docs/guest-benchmark-smpN.svg otherwise;
#                     the markdown has one generated block per vCPU count)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
rounds=5 runtime=2 ramp=1 smp=1 setups= cache=auto keep= report=1
workloads="randread-4k-qd1 randread-4k-qd16 seqread-1m seqwrite-1m randrw70-4k-qd1-j1 randrw70-4k-qd1-j4 randrw70-4k-qd64-j1 randrw70-4k-qd64-j4"
md=$repo/docs/guest-benchmark.md svg=
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) rounds=$2; shift ;;
    --runtime) runtime=$2; shift ;;
    --ramp) ramp=$2; shift ;;
    --smp) smp=$2; shift ;;
    --setups) setups=$2; shift ;;
    --workloads) workloads=$2; shift ;;
    --cache) cache=$2; shift ;;
    --keep) keep=$2; shift ;;
    --no-report) report=0 ;;
    --md) md=$(realpath -m "$2"); shift ;;
    --svg) svg=$(realpath -m "$2"); shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench_guest.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done

# run_vm.sh arguments per set-up. Both daemons get their defaults otherwise (no xattr, C thread pool 0,
# guest O_DIRECT not passed on to the host file: neither daemon sets allow_direct_io by default).
setup_args() {
  case $1 in
    c) echo "--daemon c --queues 1" ;;
    rust) echo "--daemon rust --queues 1" ;;
    rust-pool4) echo "--daemon rust --queues 1 --thread-pool-size 4" ;;
    ours-1q) echo "--daemon ours --queues 1" ;;
    ours-4q) echo "--daemon ours --queues 4" ;;
    *) echo "bench_guest.sh: unknown set-up $1 (rust, rust-pool4, c, ours-1q, ours-4q)" >&2; return 1 ;;
  esac
}
"$repo/scripts/setup.sh"
have_rust=0
[ "$(id -u)" -eq 0 ] && [ -x "$repo/.cache/trixie/usr/libexec/virtiofsd" ] && have_rust=1
if [ -z "$setups" ]; then
  setups="c ours-1q"
  [ $have_rust -eq 0 ] || setups="rust $setups"
  [ "$smp" = 1 ] || setups="$setups ours-4q"
fi
if [ -z "$svg" ]; then
  if [ "$smp" = 1 ]; then svg=$repo/docs/guest-benchmark.svg; else svg=$repo/docs/guest-benchmark-smp$smp.svg; fi
fi
for s in $setups; do setup_args "$s" >/dev/null; done
work=$(mktemp -d /tmp/bench_guest.XXXXXX)
cleanup() { rm -rf "$work"; }
trap cleanup EXIT
out=${keep:-$work/out}
mkdir -p "$out"
out=$(realpath "$out")

# The shared directory: the files fio reads and writes, written on the host beforehand so the guest
# never lays them out through FUSE (slow under TCG, and not what is measured). 64 MiB each: small
# enough to prepare in a second, big enough that 4 KiB random offsets rarely repeat within a run.
share=$work/share
mkdir -p "$share/fio-data"
head -c 64M /dev/urandom > "$share/fio-data/read"
head -c 64M /dev/urandom > "$share/fio-data/write"

# The guest script: fio_bench.sh with its parameters prepended.
guest_script() { # RESULTS_DIR_UNDER_SHARE
  printf 'FIO_WORKLOADS="%s"\nFIO_RUNTIME=%s\nFIO_RAMP=%s\nFIO_RESULTS=%s\n' "$workloads" "$runtime" "$ramp" "$1"
  cat "$repo/scripts/guest/fio_bench.sh"
}

load() { cut -d' ' -f1-3 /proc/loadavg; }
{
  printf '{\n  "date": "%s",\n' "$(date -u '+%Y-%m-%d %H:%M UTC')"
  printf '  "host_cpu": "%s",\n' "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  printf '  "host_cores": %s,\n  "host_kernel": "%s",\n' "$(nproc)" "$(uname -r)"
  # The QEMU run_vm.sh boots with: Debian 13's 10.0 where its root is, else the host's.
  if [ -x "$repo/.cache/trixie/usr/bin/qemu-system-x86_64" ] && [ "$(id -u)" -eq 0 ]; then
    printf '  "qemu": "%s",\n' "$("$repo/scripts/trixie-run.sh" qemu-system-x86_64 --version | head -n 1)"
  else
    printf '  "qemu": "%s",\n' "$(qemu-system-x86_64 --version | head -n 1)"
  fi
  printf '  "guest_kernel": "%s",\n  "fio": "%s",\n' "$(cat "$repo/.cache/guest/kernel-version" 2>/dev/null || echo unknown)" "$(fio --version)"
  printf '  "rounds": %s,\n  "runtime": %s,\n  "ramp": %s,\n  "smp": %s,\n  "cache": "%s",\n' "$rounds" "$runtime" "$ramp" "$smp" "$cache"
  printf '  "setups": "%s",\n  "workloads": "%s",\n  "load_before": "%s",\n' "$setups" "$workloads" "$(load)"
} > "$out/meta.part"

read -r -a setup_list <<< "$setups"
failed=0
for ((r = 1; r <= rounds; r++)); do
  order=("${setup_list[@]}")
  if ((r % 2 == 0)); then
    order=()
    for ((i = ${#setup_list[@]} - 1; i >= 0; i--)); do order+=("${setup_list[i]}"); done
  fi
  for s in "${order[@]}"; do
    tag=r$r-$s
    guest_script "fio-results/$tag" > "$work/$tag.sh"
    echo "bench_guest.sh: round $r/$rounds, $s (load $(load))" >&2
    read -r -a args <<< "$(setup_args "$s")"
    if "$repo/scripts/run_vm.sh" "${args[@]}" --with-fio --smp "$smp" --cache "$cache" --timeout 900 \
         --shared-dir "$share" --guest-script "$work/$tag.sh" --log-dir "$out/logs/$tag" > "$out/logs-$tag.txt" 2>&1; then
      mkdir -p "$out/results"
      cp -r "$share/fio-results/$tag" "$out/results/$tag"
    else
      echo "bench_guest.sh: $tag failed; see $out/logs-$tag.txt" >&2
      tail -n 20 "$out/logs-$tag.txt" >&2
      failed=1
    fi
  done
done
{ cat "$out/meta.part"; printf '  "load_after": "%s"\n}\n' "$(load)"; } > "$out/meta.json"
rm -f "$out/meta.part"
[ $failed -eq 0 ] || { echo "bench_guest.sh: some boots failed; no report written" >&2; exit 1; }
if [ $report -eq 1 ]; then
  python3 "$repo/scripts/lib/guest_bench_report.py" --results "$out" --md "$md" --svg "$svg"
fi
echo "bench_guest.sh: done; raw results in $out${keep:+ (kept)}" >&2
