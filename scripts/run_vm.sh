#!/usr/bin/env bash
# Boots a TCG guest whose /mnt is a host directory shared through a virtio-fs daemon.
#
#   scripts/run_vm.sh                       demo: shares a temp dir with hello.txt, interactive shell
#   scripts/run_vm.sh --guest-script F ...  test: runs F in the guest (cwd /mnt); exits with its status
#
# Options:
#   --shared-dir DIR     directory to share (default: a fresh temp dir holding hello.txt, removed on exit)
#   --daemon WHICH       ours (default: built by setup.sh), rust (the Rust virtiofsd 1.13 of the Debian 13
#                        root, with --sandbox chroot), c (QEMU 7.2's /usr/lib/qemu/virtiofsd) or a PATH to a
#                        daemon that takes the Rust virtiofsd options (--socket-path, --shared-dir, ...)
#   --qemu 10|7.2        the frontend: QEMU 10 from the Debian 13 root setup.sh makes as root (default when
#                        it is there), or the host's QEMU 7.2
#   --daemon-style S     rust|c: which command line the daemon takes (default: c for "c", rust otherwise)
#   --daemon-args "..."  extra daemon arguments, appended (word-split)
#   --queues N           num-request-queues of the vhost-user-fs-pci device (default 1)
#   --queue-size N       queue-size of the device (default: QEMU's, 128)
#   --device-props P     more vhost-user-fs-pci properties, e.g. packed=on (QEMU then offers the packed
#                        ring; a backend that does not offer it in turn gets the split ring)
#   --cache MODE         never|auto|always (the C daemon calls never "none"; translated)
#   --thread-pool-size N passed to the daemon
#   --log-level L        passed to our daemon (rust style only)
#   --guest-script FILE  run FILE in the guest; repeat to boot once per script, in order, against the
#                        same daemon if it stays up after a guest disconnects (else a fresh daemon)
#   --memory SIZE        guest RAM, all of it a shared memfd (default 1G)
#   --timeout SECONDS    per boot, script mode only (default 600)
#   --log-dir DIR        keep the daemon log and each boot's console log there
#   --tag TAG            virtio-fs tag (default myfs)
#   --smp N              guest CPUs (default 1 for one request queue, else 2: Linux >= 6.11 uses at most
#                        one request queue per CPU, so --queues 4 with 2 CPUs exercises 2 queues; more
#                        TCG vCPUs than the 2 host cores only slows everything down)
#   --kernel-args "..."  appended to the guest kernel command line
#   --with-fio           put the host's fio and its shared libraries into the initramfs (~85 MB more;
#                        for scripts/bench_guest.sh and its smoke test)
#
# Exit status (script mode): the first non-zero guest script status; 124 if a boot timed out; 125 if the
# guest ended without reporting a status (panic, mount failure before the marker, qemu error); 126 if the
# daemon could not be started or died during a boot.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=lib/initramfs.sh
. "$repo/scripts/lib/initramfs.sh"

# The console line scripts/guest/init prints as the guest's last word; keep in sync with it.
MARKER_RE='@@VIRTIOFSD-GUEST-EXIT=[0-9]+@@'

shared_dir= daemon=ours daemon_style= daemon_args= queues=1 queue_size= cache=auto pool= log_level=
memory=1G timeout=600 log_dir= tag=myfs smp= kernel_args= with_fio=0 qemu= device_props=
scripts=()
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case $1 in
    --shared-dir) shared_dir=$2; shift ;;
    --daemon) daemon=$2; shift ;;
    --daemon-style) daemon_style=$2; shift ;;
    --qemu) qemu=$2; shift ;;
    --device-props) device_props=$2; shift ;;
    --daemon-args) daemon_args=$2; shift ;;
    --queues) queues=$2; shift ;;
    --queue-size) queue_size=$2; shift ;;
    --cache) cache=$2; shift ;;
    --thread-pool-size) pool=$2; shift ;;
    --log-level) log_level=$2; shift ;;
    --guest-script) scripts+=("$(realpath "$2")"); shift ;;
    --memory) memory=$2; shift ;;
    --timeout) timeout=$2; shift ;;
    --log-dir) log_dir=$2; shift ;;
    --tag) tag=$2; shift ;;
    --smp) smp=$2; shift ;;
    --kernel-args) kernel_args=$2; shift ;;
    --with-fio) with_fio=1 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "run_vm.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$smp" ] || { if [ "$queues" = 1 ]; then smp=1; else smp=2; fi; }
case $cache in never|auto|always) ;; *) echo "run_vm.sh: --cache must be never|auto|always" >&2; exit 2 ;; esac

# --- Prerequisites -------------------------------------------------------------------------------
if [ "$daemon" = ours ]; then "$repo/scripts/setup.sh"; else "$repo/scripts/setup.sh" --no-build; fi
trixie=$repo/.cache/trixie
if [ -z "$qemu" ]; then
  if [ -x "$trixie/usr/bin/qemu-system-x86_64" ] && [ "$(id -u)" -eq 0 ]; then qemu=10; else
    qemu=7.2
    echo "run_vm.sh: no Debian 13 root (scripts/setup.sh as root makes it): using the host's QEMU 7.2" >&2
  fi
fi
case $qemu in 10|7.2) ;; *) echo "run_vm.sh: --qemu must be 10 or 7.2" >&2; exit 2 ;; esac
case $daemon in
  ours) daemon_bin=$repo/.cache/daemon/publish/VirtioFsd/release_linux-x64/virtiofsd; : "${daemon_style:=rust}" ;;
  rust) daemon_bin=$repo/scripts/rust-virtiofsd.sh; : "${daemon_style:=rust}"
        # Its namespace sandbox cannot start inside the root's chroot.
        daemon_args="--sandbox chroot $daemon_args" ;;
  c) daemon_bin=/usr/lib/qemu/virtiofsd; : "${daemon_style:=c}" ;;
  *) daemon_bin=$(realpath "$daemon"); : "${daemon_style:=rust}" ;;
esac
[ -x "$daemon_bin" ] || { echo "run_vm.sh: daemon $daemon_bin is not executable" >&2; exit 126; }
for f in "${scripts[@]}"; do [ -r "$f" ] || { echo "run_vm.sh: cannot read $f" >&2; exit 2; }; done

work=$(mktemp -d /tmp/run_vm.XXXXXX)
[ -n "$log_dir" ] || log_dir=$work
mkdir -p "$log_dir"
log_dir=$(realpath "$log_dir")
if [ "$qemu" = 10 ]; then
  # QEMU 10 runs from the Debian 13 root: the kernel and the console log must be reachable at their paths there.
  qemu_bin=(env "TRIXIE_BIND=$repo/.cache/guest:$log_dir" "$repo/scripts/trixie-run.sh" qemu-system-x86_64)
else
  qemu_bin=(qemu-system-x86_64)
fi
# For the tests of this script only: a program QEMU's command line is handed to (it runs the rest).
[ -z "${RUN_VM_QEMU_WRAPPER:-}" ] || qemu_bin=("$RUN_VM_QEMU_WRAPPER" "${qemu_bin[@]}")
sock=$work/vhost-fs.sock
daemon_pid= qemu_pid=
cleanup() {
  local rc=$?
  [ -z "$qemu_pid" ] || kill "$qemu_pid" 2>/dev/null || true
  stop_daemon
  rm -rf "$work"
  exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ -z "$shared_dir" ]; then
  shared_dir=$work/shared
  mkdir -p "$shared_dir"
  echo "Hello from the host ($(hostname)), shared through virtio-fs at $(date -u)." > "$shared_dir/hello.txt"
fi
shared_dir=$(realpath "$shared_dir")

# --- Daemon --------------------------------------------------------------------------------------
daemon_cmd() {
  if [ "$daemon_style" = c ]; then
    # QEMU 7.2's C daemon: -o options; "never" is spelled "none"; it must be told to stay in the
    # foreground (-f is implied by not passing --daemonize) and it serves one frontend, then exits.
    local c_cache=$cache
    [ "$c_cache" = never ] && c_cache=none
    printf '%s\n' "$daemon_bin" "--socket-path=$sock" -o "source=$shared_dir" -o "cache=$c_cache"
    [ -z "$pool" ] || printf '%s\n' "--thread-pool-size=$pool"
  elif [ "$daemon" = rust ]; then
    printf '%s\n' env "RUST_VIRTIOFSD_BIND=$shared_dir" "$daemon_bin" --socket-path "$sock" --shared-dir "$shared_dir" --cache "$cache"
    [ -z "$pool" ] || printf '%s\n' --thread-pool-size "$pool"
    [ -z "$log_level" ] || printf '%s\n' --log-level "$log_level"
  else
    printf '%s\n' "$daemon_bin" --socket-path "$sock" --shared-dir "$shared_dir" --cache "$cache"
    [ -z "$pool" ] || printf '%s\n' --thread-pool-size "$pool"
    [ -z "$log_level" ] || printf '%s\n' --log-level "$log_level"
  fi
  local a
  # shellcheck disable=SC2086 # --daemon-args is word-split on purpose
  for a in $daemon_args; do printf '%s\n' "$a"; done
}

daemon_runs=0
start_daemon() {
  local -a cmd
  mapfile -t cmd < <(daemon_cmd)
  rm -f "$sock"
  daemon_runs=$((daemon_runs + 1))
  echo "run_vm.sh: daemon run $daemon_runs: ${cmd[*]}" >&2
  # Own session, so stop_daemon can signal it and any children it forked (the C daemon forks into a
  # PID namespace) as one process group.
  setsid "${cmd[@]}" >>"$log_dir/daemon.log" 2>&1 </dev/null &
  daemon_pid=$!
  local i
  for ((i = 0; i < 600; i++)); do
    [ -S "$sock" ] && return 0
    if ! kill -0 "$daemon_pid" 2>/dev/null; then
      wait "$daemon_pid" && rc=0 || rc=$?
      echo "run_vm.sh: daemon exited with $rc before creating $sock; its log:" >&2
      tail -n 30 "$log_dir/daemon.log" >&2
      daemon_pid=
      exit 126
    fi
    sleep 0.1
  done
  echo "run_vm.sh: daemon did not create $sock within 60 s" >&2
  exit 126
}

# Waits up to 3 s for the daemon to leave after its frontend went away; returns 0 if it is still up.
daemon_stays_up() {
  local i
  for ((i = 0; i < 30; i++)); do
    kill -0 "$daemon_pid" 2>/dev/null || return 1
    sleep 0.1
  done
  return 0
}

stop_daemon() {
  [ -n "$daemon_pid" ] || return 0
  if kill -0 "$daemon_pid" 2>/dev/null; then
    kill -TERM -- "-$daemon_pid" 2>/dev/null || true
    local i
    for ((i = 0; i < 50; i++)); do kill -0 "$daemon_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL -- "-$daemon_pid" 2>/dev/null || true
  fi
  wait "$daemon_pid" 2>/dev/null || true
  daemon_pid=
}

# --- QEMU ----------------------------------------------------------------------------------------
qemu_args() {
  local initrd=$1
  local dev="vhost-user-fs-pci,chardev=char0,tag=$tag"
  [ "$queues" = 1 ] || dev+=",num-request-queues=$queues"
  [ -z "$queue_size" ] || dev+=",queue-size=$queue_size"
  [ -z "$device_props" ] || dev+=",$device_props"
  # nohz=off: under TCG a tickless idle guest wakes late for virtqueue interrupts; measured with the C
  # daemon, a FUSE round trip took 7.5 ms tickless and 3 ms with the tick on (0.5 ms with its
  # --thread-pool-size=0), and every request of the test pays it.
  # no_timer_check: on a loaded host the TCG guest's IO-APIC timer check times out and the kernel
  # panics ("IO-APIC + timer doesn't work!"); the check proves nothing about an emulated PIT.
  printf '%s\n' \
    -machine q35,accel=tcg -cpu max -smp "$smp" -m "$memory" \
    -object "memory-backend-memfd,id=mem,size=$memory,share=on" -numa node,memdev=mem \
    -chardev "socket,id=char0,path=$sock" -device "$dev" \
    -kernel "$repo/.cache/guest/vmlinuz" -initrd "$initrd" \
    -append "console=ttyS0 quiet loglevel=4 panic=-1 rdinit=/init nohz=off no_timer_check $kernel_args" \
    -no-reboot -nodefaults -vga none
}

if [ ${#scripts[@]} -eq 0 ]; then
  # Demo: interactive shell on the serial console (Ctrl-A X quits qemu at any time).
  build_initramfs "$work/initrd.gz" shell "$tag" 1
  start_daemon
  mapfile -t args < <(qemu_args "$work/initrd.gz")
  echo "run_vm.sh: booting (TCG, ~10 s); the guest sees $shared_dir on /mnt" >&2
  # -nodefaults drops the default serial port, so the console (muxed with the monitor) is explicit.
  "${qemu_bin[@]}" "${args[@]}" -display none -serial mon:stdio || true
  exit 0
fi

# fio's archive is built once and appended to each boot's initramfs (the kernel unpacks both).
if [ $with_fio -eq 1 ]; then
  build_fio_cpio "$work/fio.cpio"
fi
# QEMU's multi-threaded TCG sometimes aborts while the guest kernel is still probing devices:
#   physmem.c: iotlb_to_section: Assertion `section_index < d->map.sections_nb' failed
# (seen once in ~20 CI runs, QEMU 10.0, 2 vCPUs: a vCPU used a TLB entry of a memory map that another
# thread had just replaced). It is the emulator's race, not the daemon's, and nothing of the guest script
# has run yet, so that one abort, and only it, costs a second boot of the same script (once per boot).
TCG_RACE_RE='iotlb_to_section: Assertion'
tcg_race_abort() { # qemu status, qemu stderr file, console file
  [ "$1" = 134 ] && grep -q "$TCG_RACE_RE" "$2" && ! grep -a -q '^guest init:' "$3"
}

status=0
boot=0
for script in "${scripts[@]}"; do
  boot=$((boot + 1))
  retried=0
  while :; do
    if [ -n "$daemon_pid" ] && daemon_stays_up; then
      echo "run_vm.sh: boot $boot reuses the daemon (still up after the guest disconnected)" >&2
    else
      if [ -n "$daemon_pid" ]; then
        wait "$daemon_pid" && drc=0 || drc=$?
        echo "run_vm.sh: daemon exited with $drc after the guest disconnected; starting a fresh one" >&2
        daemon_pid=
        # A daemon killed by a signal while serving a guest is a failure of the run, not a clean exit.
        if [ "$drc" -ge 128 ]; then status=126; break; fi
      fi
      start_daemon
    fi
    build_initramfs "$work/initrd.gz" script "$tag" "$boot" "$script"
    if [ $with_fio -eq 1 ]; then
      # The kernel takes an uncompressed archive only at a 4-byte aligned offset and skips zero bytes
      # between archives (init/initramfs.c, unpack_to_rootfs), so the gzip stream is padded first.
      pad=$(( (4 - $(stat -c %s "$work/initrd.gz") % 4) % 4 ))
      head -c "$pad" /dev/zero >> "$work/initrd.gz"
      cat "$work/fio.cpio" >> "$work/initrd.gz"
    fi
    console=$log_dir/console-$boot.log
    qemu_err=$log_dir/qemu-$boot.err
    mapfile -t args < <(qemu_args "$work/initrd.gz")
    echo "run_vm.sh: boot $boot: $(basename "$script") (qemu=$qemu queues=$queues cache=$cache daemon=$daemon)" >&2
    start=$(date +%s)
    qrc=0
    # The console goes to the log and to our stdout; stdin is closed so qemu never touches a terminal.
    : > "$console"
    timeout -k 10 "$timeout" "${qemu_bin[@]}" "${args[@]}" -display none -monitor none \
      -serial "file:$console" </dev/null 2>"$qemu_err" &
    qemu_pid=$!
    # QEMU 7.2 outlives a vhost-user backend that dies: the guest would then hang until the timeout.
    # So a daemon gone before the guest reported its status ends the boot at once.
    daemon_died=0
    while kill -0 "$qemu_pid" 2>/dev/null; do
      if ! kill -0 "$daemon_pid" 2>/dev/null && ! grep -a -q -E "$MARKER_RE" "$console"; then
        daemon_died=1
        kill "$qemu_pid" 2>/dev/null || true
        break
      fi
      sleep 0.5
    done
    wait "$qemu_pid" || qrc=$?
    qemu_pid=
    cat "$console"
    cat "$qemu_err" >&2
    if [ $daemon_died -eq 1 ]; then
      wait "$daemon_pid" && drc=0 || drc=$?
      daemon_pid=
      echo "run_vm.sh: boot $boot: the daemon exited with $drc while the guest was running; its log tail:" >&2
      tail -n 30 "$log_dir/daemon.log" >&2
      status=126
      break
    fi
    marker=$(grep -a -o -E "$MARKER_RE" "$console" | tail -n 1 || true)
    echo "run_vm.sh: boot $boot ended after $(($(date +%s) - start)) s (qemu status $qrc)" >&2
    if [ "$qrc" = 124 ] || [ "$qrc" = 137 ]; then
      echo "run_vm.sh: boot $boot timed out after $timeout s" >&2
      status=124
      break
    fi
    if [ -z "$marker" ] && [ $retried -eq 0 ] && tcg_race_abort "$qrc" "$qemu_err" "$console"; then
      echo "run_vm.sh: boot $boot: QEMU aborted in iotlb_to_section before the guest's init ran (a TCG race in QEMU, see above); booting the same script again" >&2
      retried=1
      continue
    fi
    if [ -z "$marker" ]; then
      echo "run_vm.sh: boot $boot ended without the guest reporting a status; daemon log tail:" >&2
      tail -n 30 "$log_dir/daemon.log" >&2
      status=125
      break
    fi
    rc=${marker#*=}
    rc=${rc%@@}
    if [ "$rc" != 0 ]; then
      echo "run_vm.sh: guest script $(basename "$script") failed with status $rc" >&2
      status=$rc
      break
    fi
    break
  done
  [ "$status" = 0 ] || break
done
exit $status
