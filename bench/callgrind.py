#!/usr/bin/env python3
"""Instructions per notification, counted by callgrind: the daemon and the
C limit program, each sending N values of 20 and of 244 bytes to the
stand-in on a private bus, as bench.py does, but under
valgrind --tool=callgrind. Counts are repeatable on a noisy machine, where
CPU times are not: use them for before/after figures.

    callgrind.py --build-root BUILD [--source-root SRC] [-n N] [--keep DIR]

Prints, per emitter and size, the instructions per notification of the whole
process (every thread, from the first value to the last signal received)
and the share of the functions that matter; then one
`callgrind NAME VALUE instr` line per figure. --keep DIR keeps the
callgrind.out files there for callgrind_annotate.
"""

import argparse
import os
import re
import shutil
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench  # noqa: E402

# Inclusive costs worth showing: the daemon's own path and GDBus's.
FUNCTIONS = [
    'connection_source_dispatch',
    'connection_handle_line',
    'bp_request_parse',
    'bp_value_parse',
    'bp_peripheral_notify',
    'bp_gatt_emit_value',
    'g_dbus_connection_emit_signal',
    'g_dbus_message_to_blob',
    'emit',
]


def inclusive_costs(path):
    """Total and inclusive cost per function name of a callgrind file."""
    out = subprocess.check_output(['callgrind_annotate', '--inclusive=yes', '--threshold=100', '--auto=no', path],
                                  text=True, stderr=subprocess.DEVNULL)
    total = None
    costs = {}
    for line in out.splitlines():
        m = re.match(r'\s*([\d,]+)\s+\([^)]*\)\s+(.*)$', line)
        if not m:
            continue
        value = int(m.group(1).replace(',', ''))
        what = m.group(2)
        if what.startswith('PROGRAM TOTALS'):
            total = value
            continue
        fm = re.match(r'[^:]*:([A-Za-z_][\w]*)(\'\d+)? \[', what)
        if fm and fm.group(2) is None:
            costs[fm.group(1)] = max(costs.get(fm.group(1), 0), value)
    return total, costs


def run(b, who, n, size, outdir):
    out = os.path.join(outdir, 'callgrind.{}.{}'.format(who, size))
    valgrind = ['valgrind', '--tool=callgrind', '--callgrind-out-file=' + out]
    if who == 'daemon':
        conf = os.path.join(b.dir, 'cg.conf')
        with open(conf, 'w') as f:
            f.write(bench.bench_config())
        sock = os.path.join(b.dir, 'cg-{}.control'.format(size))
        proc = b.spawn('daemon-callgrind', valgrind + [b.bin('src', 'daemon', 'ble-peripheral'), '--config', conf,
                                                        '--socket', sock], b.env)
        proc.socket = sock
        b.rx.ask('wait-app {} 120000'.format(bench.DAEMON_NOTIFY_UUID), timeout=130)
    else:
        proc = b.spawn('limit-callgrind', valgrind + [b.bin('bench', 'bench-limit')], b.env)
        b.rx.ask('watch {}'.format(proc.expect('name', 120).split()[1]))
    subprocess.check_call(['callgrind_control', '-z', str(proc.pid)], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    if who == 'daemon':
        b.daemon = proc
        b.run_daemon('flood', n, size, 'bench/c0', n, size)
    else:
        b.run_emitter(proc, 'flood {} {}'.format(n, size), n, size)
    subprocess.check_call(['callgrind_control', '-d', str(proc.pid)], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
    # The dump is written as OUT.1 once valgrind got to it.
    dump = out + '.1'
    for _ in range(600):
        if os.path.exists(dump) and os.path.getsize(dump) > 0:
            break
        time.sleep(0.1)
    time.sleep(0.5)
    proc.stop()
    total, costs = inclusive_costs(dump)
    return dump, total, costs


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--build-root', required=True)
    parser.add_argument('--source-root')
    parser.add_argument('-n', type=int, default=5000)
    parser.add_argument('--keep')
    args = parser.parse_args()
    if shutil.which('valgrind') is None:
        sys.stderr.write('callgrind.py: valgrind is not installed\n')
        return 1

    class Options:
        build_root = args.build_root
        source_root = args.source_root
        quick = True
        check = False
        keep = False
        rounds = 1

    b = bench.Bench(Options)
    outdir = args.keep or b.dir
    os.makedirs(outdir, exist_ok=True)
    lines = []
    per_notify = {}
    try:
        b.start_bus()
        b.start_notify_socket()
        b.start_receiver()
        for size in (20, 244):
            for who in ('daemon', 'limit'):
                dump, total, costs = run(b, who, args.n, size, outdir)
                per = total / args.n
                per_notify[(who, size)] = per
                print('{} {} B: {:.0f} instructions per notification ({})'.format(who, size, per, dump))
                for fn in FUNCTIONS:
                    if fn in costs:
                        print('    {:<32} {:>8.0f}  {:5.1f}%'.format(fn, costs[fn] / args.n, 100.0 * costs[fn] / total))
                lines.append('callgrind {}_instr_per_notify_{} {:.0f} instr'.format(who, size, per))
                for fn in ('bp_request_parse', 'bp_value_parse', 'bp_gatt_emit_value'):
                    if who == 'daemon' and fn in costs:
                        lines.append('callgrind daemon_{}_{} {:.0f} instr'.format(fn, size, costs[fn] / args.n))
            lines.append('callgrind instr_vs_limit_{} {:.3f} ratio'.format(
                size, per_notify[('daemon', size)] / per_notify[('limit', size)]))
        if b.problems:
            for p in b.problems:
                print('PROBLEM: ' + p)
    except bench.BenchError as e:
        sys.stderr.write('callgrind.py: {}\n'.format(e))
        b.args.keep = True
        b.cleanup()
        return 1
    b.cleanup()
    print()
    for line in lines:
        print(line)
    return 1 if b.problems else 0


if __name__ == '__main__':
    sys.exit(main())
