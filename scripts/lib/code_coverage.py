#!/usr/bin/env python3
"""Which functions of a NativeAOT virtiofsd run, and in which phase (scripts/code_layout.sh).

Puts a uprobe (tracefs) on every function of BINARY (symbols from BINARY.dbg), runs the footprint benchmark's
sequence against it (start, connect with 1 queue, restart, connect with 4 queues, 4-queue load), and records the
first hit of each probe, turning the probe off at once so that a hot function costs one event. Modes:
  all     probes on from the start: every function the run executes, in first-hit order
  steady  probes on only once the 4-queue connection is up: what an idle, connected daemon and its request load run
Writes one mangled name per line. Needs root, tracefs and the benchmark build (BENCH=path).
"""
import os
import re
import subprocess
import sys
import threading
import time

TRACE = '/sys/kernel/tracing'
GROUP = 'vfslayout'


def write(path, text):
    with open(path, 'w') as f:
        f.write(text)


def functions(binary):
    """(address, name) of every sized function symbol, one per address: the longest of the names at an address. A
    managed method the runtime exports under a short name has both (RhpCidResolve and
    S_P_CoreLib_System_Runtime_CachedInterfaceDispatch__RhpCidResolve), and the compiler's order file matches only the
    method's own name; a layout that listed the short one left that method out of place."""
    out = subprocess.run(['nm', '-nS', binary + '.dbg'], capture_output=True, text=True, check=True).stdout
    names = {}
    for line in out.splitlines():
        q = line.split()
        if len(q) == 4 and q[2] in 'tT' and int(q[1], 16) > 0:
            address = int(q[0], 16)
            if len(q[3]) > len(names.get(address, '')):
                names[address] = q[3]
    return sorted(names.items())


def serving_daemons(binary):
    """Pids of daemons of BINARY that have a frontend's guest memory mapped."""
    pids = []
    for pid in os.listdir('/proc'):
        if not pid.isdigit():
            continue
        try:
            cmd = open(f'/proc/{pid}/cmdline', 'rb').read()
            if binary.encode() in cmd and b'--socket-path' in cmd and 'memfd' in open(f'/proc/{pid}/maps').read():
                pids.append(pid)
        except OSError:
            pass
    return pids


def main():
    binary, mode, out, bench = sys.argv[1], sys.argv[2], sys.argv[3], os.environ['BENCH']
    probes = functions(binary)
    write(f'{TRACE}/tracing_on', '0')
    write(f'{TRACE}/trace', '')
    fd = os.open(f'{TRACE}/uprobe_events', os.O_WRONLY | os.O_APPEND)
    for i, (address, _) in enumerate(probes):
        # The file offset of a symbol is its address: the NativeAOT executable maps its segments at their offsets.
        os.write(fd, f'p:{GROUP}/f{i} {binary}:0x{address:x}\n'.encode())
    os.close(fd)
    write(f'{TRACE}/buffer_size_kb', '65536')

    first, stop = {}, threading.Event()

    def reader():
        pipe = os.open(f'{TRACE}/trace_pipe', os.O_RDONLY | os.O_NONBLOCK)
        pattern, rest = re.compile(rb'\s(\d+\.\d+): f(\d+):'), b''
        while not stop.is_set():
            try:
                data = os.read(pipe, 1 << 20)
            except BlockingIOError:
                time.sleep(0.01)
                continue
            lines = (rest + data).split(b'\n')
            rest = lines.pop()
            for line in lines:
                m = pattern.search(line)
                if m and int(m.group(2)) not in first:
                    i = int(m.group(2))
                    first[i] = float(m.group(1))
                    try:
                        write(f'{TRACE}/events/{GROUP}/f{i}/enable', '0')
                    except OSError:
                        pass

    thread = threading.Thread(target=reader)
    thread.start()
    write(f'{TRACE}/tracing_on', '1')
    run = subprocess.Popen([bench, '--footprint', '--ours', binary, '--sandbox', 'none', '--rounds', '1', '--seconds', '3'],
                           stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    if mode == 'all':
        write(f'{TRACE}/events/{GROUP}/enable', '1')
    else:
        seen = set()
        while run.poll() is None and len(seen) < 2:
            seen.update(serving_daemons(binary))
            time.sleep(0.02)
        # The second daemon is the 4-queue one; its connection set-up is over well within the benchmark's 1.5 s wait.
        time.sleep(0.8)
        write(f'{TRACE}/events/{GROUP}/enable', '1')
    run.wait()
    time.sleep(0.5)
    stop.set()
    thread.join()
    for path, value in ((f'{TRACE}/events/{GROUP}/enable', '0'), (f'{TRACE}/tracing_on', '0')):
        try:
            write(path, value)
        except OSError:
            pass
    with open(f'{TRACE}/uprobe_events') as f:
        others = [line for line in f if not line.startswith(f'p:{GROUP}/')]
    write(f'{TRACE}/uprobe_events', '')
    for line in others:
        with open(f'{TRACE}/uprobe_events', 'a') as f:
            f.write(line)
    with open(out, 'w') as f:
        for i, _ in sorted(first.items(), key=lambda kv: kv[1]):
            f.write(probes[i][1] + '\n')
    print(f'{mode}: {len(first)} of {len(probes)} functions ran (benchmark exit {run.returncode})', file=sys.stderr)


if __name__ == '__main__':
    main()
