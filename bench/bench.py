#!/usr/bin/env python3
"""The ble-peripheral benchmark (bench/README.md).

Runs, in one go and on one private dbus-daemon with the stand-in bluetoothd
(bench-receiver) subscribed to the emitters' signals as bluetoothd is:

  - the daemon, fed by bench-producer over its control socket,
  - bench-limit, the least a GDBus program can do to send the same signals,
  - bench-relay, the least a GDBus relay can do: woken by bench-producer
    as the daemon is, it emits those signals (the 10 × 10 Hz run),
  - python-peripheral.py, a Python peripheral in the style of BlueZ's
    test/example-gatt-server,

and prints a table, then one `bench NAME VALUE UNIT` line per figure.

    bench.py --build-root BUILD [--source-root SRC] [--quick] [--check]

--quick runs fewer notifications and shorter windows (a smoke test, not
figures to quote); --check exits 1 when a target is missed. The run exits 1
when something broke: a signal lost, reordered or changed, a process that
did not answer.
"""

import argparse
import ctypes
import os
import platform
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time

CLK_TCK = os.sysconf('SC_CLK_TCK')

DAEMON_SERVICE = 'b0e5d000-7b1a-4c2e-9d36-5e2a4b000000'
DAEMON_CHAR = 'b0e5d000-7b1a-4c2e-9d36-5e2a4b{:06x}'
DAEMON_NOTIFY_UUID = DAEMON_CHAR.format(1)
DAEMON_READ_UUID = DAEMON_CHAR.format(0x100)
DAEMON_FAST_UUID = DAEMON_CHAR.format(0x200)
PYTHON_NOTIFY_UUID = 'b0e5f000-7b1a-4c2e-9d36-5e2a4b000001'
PYTHON_READ_UUID = 'b0e5f000-7b1a-4c2e-9d36-5e2a4b000002'
CENTRAL = '00:AA:01:01:00:01'
CENTRAL_MTU = 247
WATCHDOG_USEC = 30000000  # WatchdogSec=30s in data/ble-peripheral.service

BUS_CONFIG = """<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={socket}</listen>
  <auth>EXTERNAL</auth>
  <!-- The default policy of the system bus (system.conf), with the holes
       bluetooth.conf punches for bluetoothd and its applications, for
       everyone: the bus checks as many rules per message as it does there.
       No <limit>: the compiled-in limits are the system bus's. -->
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus" send_interface="org.freedesktop.DBus.Properties"/>
    <allow own="*"/>
    <allow send_type="method_call"/>
  </policy>
</busconfig>
"""


def bench_config():
    """The daemon's database for the notify, latency and read runs."""
    # c0…c9 by D-Bus (PropertiesChanged); f0 by an acquired socket.
    lines = ['[Peripheral]', 'Name=bench', 'AcquireSockets=off', '',
             '[Service bench]', 'UUID=' + DAEMON_SERVICE, '']
    for i in range(10):
        lines += ['[Characteristic bench/c{}]'.format(i), 'UUID=' + DAEMON_CHAR.format(i + 1),
                  'Flags=read,notify', '']
    lines += ['[Characteristic bench/f0]', 'UUID=' + DAEMON_FAST_UUID, 'Flags=read,notify',
              'AcquireSockets=auto', '']
    lines += ['[Characteristic bench/r0]', 'UUID=' + DAEMON_READ_UUID, 'Flags=read',
              'ReadHandler=socket', '']
    return '\n'.join(lines)


def hundred_config():
    """100 characteristics: 10 services of 10."""
    lines = ['[Peripheral]', 'Name=bench100', '']
    for s in range(10):
        lines += ['[Service s{}]'.format(s),
                  'UUID=b0e5e0{:02x}-7b1a-4c2e-9d36-5e2a4b000000'.format(s), '']
        for c in range(10):
            lines += ['[Characteristic s{}/c{}]'.format(s, c),
                      'UUID=b0e5e0{:02x}-7b1a-4c2e-9d36-5e2a4b{:06x}'.format(s, c + 1),
                      'Flags=read,notify', '']
    return '\n'.join(lines)


HUNDRED_CHARS = ['s{}/c{}'.format(s, c) for s in range(10) for c in range(10)]


class BenchError(Exception):
    pass


def set_pdeathsig():
    # Nothing outlives the benchmark, whatever happens to it.
    try:
        ctypes.CDLL('libc.so.6', use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


class Proc:
    """A child process answering lines on stdout."""

    def __init__(self, name, argv, logdir, env=None):
        self.name = name
        self.log_path = os.path.join(logdir, name + '.log')
        self.log = open(self.log_path, 'w')
        self.lines = queue.Queue()
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
                                  env=env, text=True, bufsize=1, preexec_fn=set_pdeathsig)
        self.pid = self.p.pid
        self.rusage = None
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.p.stdout:
            self.lines.put(line.rstrip('\n'))
        self.lines.put(None)

    def send(self, line):
        try:
            self.p.stdin.write(line + '\n')
            self.p.stdin.flush()
        except (BrokenPipeError, ValueError):
            raise BenchError('{} is gone (see {})'.format(self.name, self.log_path))

    def readline(self, timeout=30):
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise BenchError('{}: no answer within {} s (see {})'.format(self.name, timeout, self.log_path))
        if line is None:
            raise BenchError('{} exited (see {})'.format(self.name, self.log_path))
        return line

    def expect(self, prefix, timeout=30):
        while True:
            line = self.readline(timeout)
            if line.startswith(prefix):
                return line
            if line.startswith('error'):
                raise BenchError('{}: {}'.format(self.name, line))

    def ask(self, line, timeout=30):
        self.send(line)
        return self.expect('ok', timeout)

    def close_stdin(self):
        try:
            self.p.stdin.close()
        except OSError:
            pass

    def wait(self, timeout=30):
        """Waits for the exit, keeping the child's resource usage."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            pid, status, rusage = os.wait4(self.pid, os.WNOHANG)
            if pid == self.pid:
                self.rusage = rusage
                self.p.returncode = os.waitstatus_to_exitcode(status)
                return self.p.returncode
            time.sleep(0.01)
        raise BenchError('{} did not exit (see {})'.format(self.name, self.log_path))

    def stop(self):
        if self.p.poll() is None and self.rusage is None:
            self.p.send_signal(signal.SIGTERM)
            try:
                self.wait(10)
            except BenchError:
                self.p.kill()
                self.p.wait()
        self.log.close()


def kv(line):
    return {k: v for k, v in re.findall(r'(\S+)=(\S+)', line)}


# --- what /proc says ----------------------------------------------------------

def cpu_seconds(pid):
    """CPU time of every thread of pid so far: the scheduler's exact
    nanoseconds (schedstat) where there are, else utime + stime."""
    total = 0
    try:
        for tid in os.listdir('/proc/{}/task'.format(pid)):
            with open('/proc/{}/task/{}/schedstat'.format(pid, tid)) as f:
                total += int(f.read().split()[0])
        return total / 1e9
    except (OSError, ValueError, IndexError):
        with open('/proc/{}/stat'.format(pid)) as f:
            fields = f.read().rsplit(')', 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK


def thread_counters(pid):
    """Per thread: (voluntary + involuntary context switches, moves from one
    CPU to another or None where the kernel does not say: se.nr_migrations
    of /proc/PID/task/TID/sched)."""
    out = {}
    for tid in os.listdir('/proc/{}/task'.format(pid)):
        switches, moves = 0, None
        try:
            with open('/proc/{}/task/{}/status'.format(pid, tid)) as f:
                for line in f:
                    if line.startswith(('voluntary_ctxt_switches:', 'nonvoluntary_ctxt_switches:')):
                        switches += int(line.split()[1])
            with open('/proc/{}/task/{}/sched'.format(pid, tid)) as f:
                for line in f:
                    if line.startswith('se.nr_migrations'):
                        moves = int(line.split(':')[1])
                        break
        except FileNotFoundError:
            continue  # gone
        except (OSError, ValueError, IndexError):
            pass
        out[tid] = (switches, moves)
    return out


def counters_since(before, after):
    """(context switches, migrations or None) of the threads alive at the
    end since before; a thread started since counts from 0. Per thread, so
    that a thread that exited in between (GLib's thread pool lets idle ones
    go) does not take its earlier counts off."""
    switches = sum(a[0] - before.get(tid, (0, 0))[0] for tid, a in after.items())
    if any(a[1] is None or before.get(tid, (0, 0))[1] is None for tid, a in after.items()):
        return switches, None
    return switches, sum(a[1] - before.get(tid, (0, 0))[1] for tid, a in after.items())


def memory_kib(pid):
    """(Rss, Anonymous) of /proc/PID/smaps_rollup, in KiB."""
    rss = anon = 0
    with open('/proc/{}/smaps_rollup'.format(pid)) as f:
        for line in f:
            if line.startswith('Rss:'):
                rss = int(line.split()[1])
            elif line.startswith('Anonymous:'):
                anon = int(line.split()[1])
    return rss, anon


def median(values):
    v = sorted(values)
    n = len(v)
    return v[n // 2] if n % 2 else (v[n // 2 - 1] + v[n // 2]) / 2


def peak_rss_kib(pid):
    """VmHWM: the largest RSS the process ever had."""
    with open('/proc/{}/status'.format(pid)) as f:
        for line in f:
            if line.startswith('VmHWM:'):
                return int(line.split()[1])
    return 0


def machine_cpu_seconds():
    """Busy CPU time of the whole machine (all processes)."""
    with open('/proc/stat') as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    # user nice system idle iowait irq softirq steal
    return (fields[0] + fields[1] + fields[2] + fields[5] + fields[6]) / CLK_TCK


class CpuWindow:
    """CPU of some processes, and of the machine, over a stretch of time."""

    def __init__(self, *pids):
        self.pids = pids
        self.cpu0 = [cpu_seconds(p) for p in pids]
        self.machine0 = machine_cpu_seconds()
        self.t0 = time.monotonic()

    def end(self):
        self.cpu = [cpu_seconds(p) - c for p, c in zip(self.pids, self.cpu0)]
        self.machine = machine_cpu_seconds() - self.machine0
        self.wall = time.monotonic() - self.t0
        return self


# --- the benchmark ---------------------------------------------------------------

class Bench:
    def __init__(self, args):
        self.args = args
        self.build = os.path.abspath(args.build_root)
        self.source = os.path.abspath(args.source_root or os.path.join(os.path.dirname(__file__), '..'))
        self.dir = tempfile.mkdtemp(prefix='ble-peripheral-bench-')
        self.procs = []
        self.figures = {}   # name -> (value, unit)
        self.problems = []
        self.other_cpu = []  # (phase, CPU % of the machine used by others)
        self.n = 20000 if args.quick else 200000
        self.window = 3 if args.quick else 10
        self.rounds = args.rounds or (1 if args.quick else 3)
        self.rounds_seen = []  # (what, [figures of each round])
        self.python = None

    def bin(self, *parts):
        path = os.path.join(self.build, *parts)
        if not os.access(path, os.X_OK):
            raise BenchError('{} is not built'.format(path))
        return path

    def spawn(self, name, argv, env=None):
        p = Proc(name, argv, self.dir, env)
        self.procs.append(p)
        return p

    def fig(self, name, value, unit):
        self.figures[name] = (value, unit)

    def note_load(self, phase, window, own_pids_cpu):
        """How much of the machine other work took during a phase."""
        cores = os.cpu_count() or 1
        other = max(0.0, window.machine - own_pids_cpu)
        self.other_cpu.append((phase, 100.0 * other / (window.wall * cores)))

    # --- set-up

    def start_bus(self):
        sock = os.path.join(self.dir, 'bus')
        conf = os.path.join(self.dir, 'bus.conf')
        with open(conf, 'w') as f:
            f.write(BUS_CONFIG.format(socket=sock))
        self.bus = self.spawn('dbus-daemon', ['dbus-daemon', '--config-file=' + conf, '--nofork', '--nopidfile',
                                              '--nosyslog', '--print-address=1'])
        self.address = self.bus.readline(10)
        self.env = dict(os.environ, DBUS_SYSTEM_BUS_ADDRESS=self.address, LANG='C.UTF-8')
        self.env.pop('G_MESSAGES_DEBUG', None)
        self.env.pop('DBUS_SESSION_BUS_ADDRESS', None)

    def start_notify_socket(self):
        """Plays systemd's NOTIFY_SOCKET, so that the daemon runs with its
        watchdog on as under its unit."""
        self.notify_path = os.path.join(self.dir, 'notify')
        self.notify_sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify_sock.bind(self.notify_path)
        self.watchdog_pings = 0

        def drain():
            while True:
                try:
                    data = self.notify_sock.recv(4096)
                except OSError:
                    return
                if b'WATCHDOG=1' in data:
                    self.watchdog_pings += 1

        threading.Thread(target=drain, daemon=True).start()

    def start_receiver(self):
        self.rx = self.spawn('bench-receiver', [self.bin('bench', 'bench-receiver')], self.env)
        self.rx.expect('ready', 10)
        self.rx.ask('device {} {}'.format(CENTRAL, CENTRAL_MTU))

    def start_daemon(self, name, config_text):
        conf = os.path.join(self.dir, name + '.conf')
        with open(conf, 'w') as f:
            f.write(config_text)
        sock = os.path.join(self.dir, name + '.control')
        env = dict(self.env, NOTIFY_SOCKET=self.notify_path, WATCHDOG_USEC=str(WATCHDOG_USEC))
        d = self.spawn(name, [self.bin('src', 'daemon', 'ble-peripheral'), '--config', conf, '--socket', sock], env)
        d.socket = sock
        return d

    def start_python(self, name, chars):
        if self.python is None:
            self.python = find_python()
        p = self.spawn(name, [self.python, os.path.join(self.source, 'bench', 'python-peripheral.py'),
                              '--chars', str(chars)], self.env)
        p.expect('registered', 30)
        return p

    def start_limit(self):
        self.limit = self.spawn('bench-limit', [self.bin('bench', 'bench-limit')], self.env)
        self.rx.ask('watch {}'.format(self.limit.expect('name', 10).split()[1]))

    def start_relay(self):
        sock = os.path.join(self.dir, 'relay.control')
        self.relay = self.spawn('bench-relay', [self.bin('bench', 'bench-relay'), sock], self.env)
        self.relay.socket = sock
        self.rx.ask('watch {}'.format(self.relay.expect('name', 10).split()[1]))

    def producer(self, sock, *args):
        return self.spawn('bench-producer', [self.bin('bench', 'bench-producer'), sock] + [str(a) for a in args])

    # --- runs

    def receive(self, n, size, stall_ms=5000):
        """Waits for the armed run; returns the receiver's figures."""
        r = kv(self.rx.ask('wait {}'.format(stall_ms), timeout=600))
        for key in ('received', 'errors', 'missing'):
            r[key] = int(r[key])
        for key in ('seconds', 'rate', 'p50_us', 'p99_us', 'max_us'):
            r[key] = float(r[key])
        if r['received'] != n or r['errors'] or r['missing']:
            self.problems.append('{} of {} values of {} bytes arrived, {} errors (lost, reordered or changed)'.format(
                r['received'], n, size, r['errors']))
        return r

    def run_daemon(self, mode, n, size, *producer_args, target=None):
        """A bench-producer run against the daemon, or against target (the
        relay: its run ends when it has flushed, as the limit's does)."""
        proc = target or self.daemon
        self.rx.ask('arm {} {}'.format(n, size))
        w = CpuWindow(proc.pid, self.rx.pid, self.bus.pid)
        prod = self.producer(proc.socket, mode, *producer_args)
        r = self.receive(n, size)
        done = kv(prod.expect('done', 600))
        if prod.wait(30) != 0 or int(done['errors']):
            self.problems.append('the producer saw {} errors'.format(done['errors']))
        if target is not None:
            proc.expect('done', 60)
        w.end()
        prod_cpu = prod.rusage.ru_utime + prod.rusage.ru_stime
        r['cpu'] = w.cpu[0]
        r['all_cpu'] = sum(w.cpu)  # daemon, receiver (bluetoothd) and dbus-daemon
        r['producer_cpu'] = prod_cpu
        r['wall'] = w.wall
        self.note_load(('daemon ' if target is None else proc.name + ' ') + mode, w, sum(w.cpu) + prod_cpu)
        return r

    def run_emitter(self, proc, command, n, size):
        self.rx.ask('arm {} {}'.format(n, size))
        w = CpuWindow(proc.pid, self.rx.pid, self.bus.pid)
        proc.send(command)
        r = self.receive(n, size)
        proc.expect('done', 600)
        w.end()
        r['cpu'] = w.cpu[0]
        r['wall'] = w.wall
        self.note_load(proc.name + ' ' + command.split()[0], w, sum(w.cpu))
        return r

    def throughput(self):
        n = self.n
        warm = n // 20
        # A first pass of each warms caches and grows the heaps to their
        # working size; it is not counted.
        self.run_daemon('flood', warm, 20, 'bench/c0', warm, 20)
        self.run_emitter(self.limit, 'flood {} 20'.format(warm), warm, 20)
        self.run_emitter(self.py, 'flood {} 20'.format(warm), warm, 20)
        for size in (20, 244):
            # The daemon and the limit take turns, a round of each back to
            # back, so that both see about the same machine: the ratios are
            # the median of the rounds' ratios, the figures the medians.
            ds, lims = [], []
            for _ in range(self.rounds):
                ds.append(self.run_daemon('flood', n, size, 'bench/c0', n, size))
                lims.append(self.run_emitter(self.limit, 'flood {} {}'.format(n, size), n, size))
            py = self.run_emitter(self.py, 'flood {} {}'.format(n, size), n, size)
            self.rounds_seen.append(('daemon {} B'.format(size), ds))
            self.rounds_seen.append(('limit {} B'.format(size), lims))
            rate_d = median(r['rate'] for r in ds)
            rate_l = median(r['rate'] for r in lims)
            cpu_d = median(r['cpu'] for r in ds) / n * 1e6
            cpu_l = median(r['cpu'] for r in lims) / n * 1e6
            cpu_p = py['cpu'] / n * 1e6
            self.fig('notify_per_s_{}'.format(size), rate_d, '/s')
            self.fig('limit_per_s_{}'.format(size), rate_l, '/s')
            self.fig('python_per_s_{}'.format(size), py['rate'], '/s')
            self.fig('notify_vs_limit_{}'.format(size), median(d['rate'] / l['rate'] for d, l in zip(ds, lims)), 'ratio')
            self.fig('notify_vs_python_{}'.format(size), rate_d / py['rate'], 'ratio')
            suffix = '' if size == 20 else '_244'
            self.fig('cpu_us_per_notify' + suffix, cpu_d, 'us')
            self.fig('limit_cpu_us_per_notify' + suffix, cpu_l, 'us')
            self.fig('python_cpu_us_per_notify' + suffix, cpu_p, 'us')
            self.fig('producer_cpu_us_per_notify' + suffix, median(r['producer_cpu'] for r in ds) / n * 1e6, 'us')
            self.fig('cpu_vs_limit' + suffix, median(d['cpu'] / l['cpu'] for d, l in zip(ds, lims)), 'ratio')
            self.fig('cpu_vs_python_{}'.format(size), cpu_d / cpu_p, 'ratio')
        # GDBus queues whatever the bus does not take yet, without bound:
        # what a flood left behind.
        rss, anon = memory_kib(self.daemon.pid)
        self.fig('anon_after_flood_kib', anon, 'KiB')
        self.fig('peak_rss_flood_kib', peak_rss_kib(self.daemon.pid), 'KiB')
        self.fig('limit_peak_rss_flood_kib', peak_rss_kib(self.limit.pid), 'KiB')

    def fastpath(self):
        """The acquired socket beside the bus, rounds taking turns: the
        receiver reads the socket as bluetoothd does (one read per value)."""
        n = self.n
        warm = n // 20
        self.run_daemon('flood', warm, 20, 'bench/f0', warm, 20)
        for size in (20, 244):
            bus, fast = [], []
            for _ in range(self.rounds):
                bus.append(self.run_daemon('flood', n, size, 'bench/c0', n, size))
                fast.append(self.run_daemon('flood', n, size, 'bench/f0', n, size))
            self.rounds_seen.append(('bus {} B'.format(size), bus))
            self.rounds_seen.append(('socket {} B'.format(size), fast))
            rate_f = median(r['rate'] for r in fast)
            cpu_f = median(r['cpu'] for r in fast) / n * 1e6
            all_f = median(r['all_cpu'] for r in fast) / n * 1e6
            all_b = median(r['all_cpu'] for r in bus) / n * 1e6
            self.fig('fast_per_s_{}'.format(size), rate_f, '/s')
            self.fig('bus_per_s_{}'.format(size), median(r['rate'] for r in bus), '/s')
            self.fig('bus_cpu_us_per_notify_{}'.format(size), median(r['cpu'] for r in bus) / n * 1e6, 'us')
            self.fig('fast_cpu_us_per_notify_{}'.format(size), cpu_f, 'us')
            self.fig('fast_all_cpu_us_per_notify_{}'.format(size), all_f, 'us')
            self.fig('bus_all_cpu_us_per_notify_{}'.format(size), all_b, 'us')
            self.fig('fast_vs_bus_rate_{}'.format(size), median(f['rate'] / b['rate'] for f, b in zip(fast, bus)),
                     'ratio')
            self.fig('fast_cpu_vs_bus_{}'.format(size), median(f['cpu'] / b['cpu'] for f, b in zip(fast, bus)),
                     'ratio')
            py = self.figures.get('python_cpu_us_per_notify' + ('' if size == 20 else '_244'))
            if py:
                self.fig('fast_cpu_vs_python_{}'.format(size), cpu_f / py[0], 'ratio')

    def latency(self):
        secs = self.window
        for hz, tag in ((100, '100hz'), (1000, '1khz')):
            n = hz * secs
            d = self.run_daemon('rate', n, 20, 'bench/c0', hz, secs, 20)
            self.fig('p50_latency_{}_us'.format(tag), d['p50_us'], 'us')
            self.fig('p99_latency_{}_us'.format(tag), d['p99_us'], 'us')
            self.fig('max_latency_{}_us'.format(tag), d['max_us'], 'us')
        lim = self.run_emitter(self.limit, 'rate 1000 {} 20'.format(secs), 1000 * secs, 20)
        self.fig('limit_p50_latency_1khz_us', lim['p50_us'], 'us')
        self.fig('limit_p99_latency_1khz_us', lim['p99_us'], 'us')

    def reads(self):
        n = 500 if self.args.quick else 2000
        server = self.producer(self.daemon.socket, 'serve', 'bench/r0', 20)
        server.expect('ready', 10)
        # Round trips are short: a neighbour's burst moves a p99 of one
        # round. Three rounds each, taking turns; the medians are kept.
        uuids = (('', DAEMON_READ_UUID, (self.daemon.pid, server.pid)), ('python_', PYTHON_READ_UUID, (self.py.pid,)))
        results = {prefix: [] for prefix, _, _ in uuids}
        for prefix, uuid, _ in uuids:
            self.rx.ask('read {} 100'.format(uuid), timeout=60)  # warm-up
        for _ in range(self.rounds):
            for prefix, uuid, pids in uuids:
                w = CpuWindow(self.rx.pid, self.bus.pid, *pids)
                r = kv(self.rx.ask('read {} {}'.format(uuid, n), timeout=120))
                w.end()
                self.note_load(('python ' if prefix else 'daemon ') + 'read', w, sum(w.cpu))
                if int(r['errors']):
                    self.problems.append('{} of {} reads failed'.format(r['errors'], n))
                results[prefix].append(r)
        for prefix, rounds in results.items():
            self.fig(prefix + 'read_rtt_p50_us', median(float(r['p50_us']) for r in rounds), 'us')
            self.fig(prefix + 'read_rtt_p99_us', median(float(r['p99_us']) for r in rounds), 'us')
            if not prefix:
                self.fig('read_rtt_max_us', max(float(r['max_us']) for r in rounds), 'us')
        server.close_stdin()
        server.expect('done', 10)
        server.wait(10)

    def low_rate(self):
        """10 characteristics x 10 Hz: the daemon fed by bench-producer, the
        relay fed by a producer run like it (the floor for what is woken the
        way the daemon is), and the limit on its own timer."""
        secs = self.window
        chars = ['bench/c{}'.format(i) for i in range(10)]
        n = 100 * secs
        # The relay starts cold; the daemon and the limit have run before.
        warm = 1000
        self.run_daemon('flood', warm, 20, 'bench/c0', warm, 20, target=self.relay)

        # Rounds, as for the floods, each taking the three in another order
        # (the machine's neighbours come and go): the figures are medians,
        # the ratio the median of the rounds' ratios.
        runs = {'daemon': [], 'relay': [], 'limit': []}

        def measure(who):
            proc = {'daemon': self.daemon, 'relay': self.relay, 'limit': self.limit}[who]
            before = thread_counters(proc.pid)
            if who == 'limit':
                r = self.run_emitter(self.limit, 'multi 10 {} 20 10'.format(secs), n, 20)
            else:
                r = self.run_daemon('multi', n, 20, 10, secs, 20, *chars,
                                    target=self.relay if who == 'relay' else None)
            r['switches'], r['migrations'] = counters_since(before, thread_counters(proc.pid))
            runs[who].append(r)

        order = ['daemon', 'relay', 'limit']
        for i in range(self.rounds):
            for who in order[i % 3:] + order[:i % 3]:
                measure(who)
        self.low_rate_rounds = runs
        for who, prefix in (('daemon', ''), ('relay', 'relay_'), ('limit', 'limit_')):
            rs = runs[who]
            self.fig(prefix + 'cpu_pct_100hz', median(100.0 * r['cpu'] / r['wall'] for r in rs), '%')
            self.fig(prefix + 'cpu_us_per_notify_100hz', median(r['cpu'] for r in rs) / n * 1e6, 'us')
            self.fig(prefix + 'wakeups_per_notify_100hz', median(r['switches'] for r in rs) / n, 'count')
            if all(r['migrations'] is not None for r in rs):
                self.fig(prefix + 'migrations_per_notify_100hz', median(r['migrations'] for r in rs) / n, 'count')
        self.fig('cpu_vs_relay_100hz', median(d['cpu'] / r['cpu'] for d, r in zip(runs['daemon'], runs['relay'])),
                 'ratio')

    def idle_and_memory(self):
        # Fresh processes: the default configuration (the built-in
        # Environmental Sensing example, conf/ble-peripheral.conf) beside
        # the Python reference with the same two characteristics.
        with open(os.path.join(self.source, 'conf', 'ble-peripheral.conf')) as f:
            default = self.start_daemon('daemon-default', f.read())
        self.rx.ask('wait-app 2a6e 10000')
        py = self.start_python('python-default', 2)
        time.sleep(2)
        secs = self.window
        before = (thread_counters(default.pid), thread_counters(py.pid))
        pings = self.watchdog_pings
        w = CpuWindow(default.pid, py.pid)
        time.sleep(secs)
        w.end()
        cs = (counters_since(before[0], thread_counters(default.pid))[0],
              counters_since(before[1], thread_counters(py.pid))[0])
        self.fig('idle_wakeups_per_s', cs[0] / w.wall, '/s')
        self.fig('idle_cpu_pct', 100.0 * w.cpu[0] / w.wall, '%')
        self.fig('python_idle_wakeups_per_s', cs[1] / w.wall, '/s')
        self.fig('idle_watchdog_pings', self.watchdog_pings - pings, 'count')

        # One producer connected, one value notified.
        holder = self.producer(default.socket, 'hold', 1, '21.5', 'env/temperature')
        holder.expect('ready', 10)
        time.sleep(0.5)
        rss, anon = memory_kib(default.pid)
        py_rss, py_anon = memory_kib(py.pid)
        self.fig('rss_default_kib', rss, 'KiB')
        self.fig('anon_default_kib', anon, 'KiB')
        self.fig('python_rss_default_kib', py_rss, 'KiB')
        self.fig('python_anon_default_kib', py_anon, 'KiB')
        self.fig('rss_vs_python', rss / py_rss, 'ratio')
        self.fig('anon_vs_python', anon / py_anon, 'ratio')
        holder.close_stdin()
        holder.wait(10)
        default.stop()
        py.stop()

        # 100 characteristics, 100 producers connected, each having
        # notified one value.
        hundred = self.start_daemon('daemon-100', hundred_config())
        self.rx.ask('wait-app b0e5e009-7b1a-4c2e-9d36-5e2a4b00000a 10000')
        holder = self.producer(hundred.socket, 'hold', 100, 'bench', *HUNDRED_CHARS)
        holder.expect('ready', 30)
        py = self.start_python('python-100', 100)
        time.sleep(0.5)
        rss, anon = memory_kib(hundred.pid)
        py_rss, py_anon = memory_kib(py.pid)
        self.fig('rss_100x100_kib', rss, 'KiB')
        self.fig('anon_100x100_kib', anon, 'KiB')
        self.fig('python_rss_100_kib', py_rss, 'KiB')
        self.fig('python_anon_100_kib', py_anon, 'KiB')
        holder.close_stdin()
        holder.wait(10)
        hundred.stop()
        py.stop()

    def run(self):
        t0 = time.monotonic()
        self.load0 = os.getloadavg()
        self.start_bus()
        self.start_notify_socket()
        self.start_receiver()

        self.daemon = self.start_daemon('daemon', bench_config())
        self.rx.ask('wait-app {} 10000'.format(DAEMON_NOTIFY_UUID))
        self.rx.ask('subscribe {}'.format(DAEMON_NOTIFY_UUID))
        self.rx.ask('acquire {}'.format(DAEMON_FAST_UUID))

        self.py = self.start_python('python', 2)
        self.rx.ask('wait-app {} 10000'.format(PYTHON_NOTIFY_UUID))
        self.rx.ask('subscribe {}'.format(PYTHON_NOTIFY_UUID))
        self.py.expect('notifying', 10)

        self.start_limit()
        self.start_relay()

        self.throughput()
        self.fastpath()
        self.latency()
        self.reads()
        self.low_rate()
        for p in (self.relay, self.limit, self.py, self.daemon):
            p.stop()
        self.idle_and_memory()
        self.seconds = time.monotonic() - t0
        self.load1 = os.getloadavg()

    def cleanup(self):
        for p in reversed(self.procs):
            try:
                p.stop()
            except Exception:
                pass
        if self.args.keep:
            sys.stderr.write('bench: logs kept in {}\n'.format(self.dir))
        else:
            shutil.rmtree(self.dir, ignore_errors=True)


def find_python():
    """A Python with dbus-python and PyGObject: Debian's, which apt fills."""
    for candidate in ('/usr/bin/python3', shutil.which('python3')):
        if candidate and subprocess.call([candidate, '-c', 'import dbus, dbus.mainloop.glib; from gi.repository import GLib'],
                                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) == 0:
            return candidate
    raise BenchError('no python3 with dbus-python and PyGObject: apt-get install python3-dbus python3-gi')


# --- the report ---------------------------------------------------------------------

# name, target test, text of the target
TARGETS = [
    ('notify_vs_limit_20', lambda v: v >= 0.8, '>= 0.8'),
    ('notify_vs_limit_244', lambda v: v >= 0.8, '>= 0.8'),
    ('cpu_vs_limit', lambda v: v <= 1.5, '<= 1.5'),
    ('cpu_vs_limit_244', lambda v: v <= 1.5, '<= 1.5'),
    ('cpu_vs_python_244', lambda v: v <= 0.5, '<= 0.5'),
    ('p99_latency_1khz_us', lambda v: v < 500, '< 500 us'),
    ('read_rtt_p99_us', lambda v: v < 2000, '< 2000 us'),
    ('anon_default_kib', lambda v: v < 1024, '< 1024 KiB'),
    ('anon_100x100_kib', lambda v: v < 4096, '< 4096 KiB'),
    ('rss_vs_python', lambda v: v <= 1 / 3, '<= 0.333'),
    ('idle_wakeups_per_s', lambda v: v <= 1, '<= 1 /s'),
    ('cpu_pct_100hz', lambda v: v < 2, '< 2 %'),
    ('fast_cpu_vs_bus_20', lambda v: v <= 0.2, '<= 0.2'),
    ('fast_cpu_vs_bus_244', lambda v: v <= 0.2, '<= 0.2'),
    ('fast_cpu_vs_python_20', lambda v: v <= 0.2, '<= 0.2'),
    ('fast_cpu_vs_python_244', lambda v: v <= 0.2, '<= 0.2'),
    ('fast_vs_bus_rate_20', lambda v: v >= 3, '>= 3'),
    ('fast_vs_bus_rate_244', lambda v: v >= 3, '>= 3'),
]

ROWS = [
    # label, daemon, limit, relay, python, unit
    ('notifications/s, 20 B', 'notify_per_s_20', 'limit_per_s_20', None, 'python_per_s_20', '/s'),
    ('notifications/s, 244 B', 'notify_per_s_244', 'limit_per_s_244', None, 'python_per_s_244', '/s'),
    ('CPU per notification, 20 B', 'cpu_us_per_notify', 'limit_cpu_us_per_notify', None, 'python_cpu_us_per_notify',
     'us'),
    ('CPU per notification, 244 B', 'cpu_us_per_notify_244', 'limit_cpu_us_per_notify_244', None,
     'python_cpu_us_per_notify_244', 'us'),
    ('latency p50 at 100 Hz', 'p50_latency_100hz_us', None, None, None, 'us'),
    ('latency p99 at 100 Hz', 'p99_latency_100hz_us', None, None, None, 'us'),
    ('latency max at 100 Hz', 'max_latency_100hz_us', None, None, None, 'us'),
    ('latency p50 at 1 kHz', 'p50_latency_1khz_us', 'limit_p50_latency_1khz_us', None, None, 'us'),
    ('latency p99 at 1 kHz', 'p99_latency_1khz_us', 'limit_p99_latency_1khz_us', None, None, 'us'),
    ('latency max at 1 kHz', 'max_latency_1khz_us', None, None, None, 'us'),
    ('read round trip p50', 'read_rtt_p50_us', None, None, 'python_read_rtt_p50_us', 'us'),
    ('read round trip p99', 'read_rtt_p99_us', None, None, 'python_read_rtt_p99_us', 'us'),
    ('RSS, default configuration', 'rss_default_kib', None, None, 'python_rss_default_kib', 'KiB'),
    ('anonymous, default configuration', 'anon_default_kib', None, None, 'python_anon_default_kib', 'KiB'),
    ('RSS, 100 chars (+100 producers)', 'rss_100x100_kib', None, None, 'python_rss_100_kib', 'KiB'),
    ('anonymous, 100 chars (+100 producers)', 'anon_100x100_kib', None, None, 'python_anon_100_kib', 'KiB'),
    ('anonymous after the floods', 'anon_after_flood_kib', None, None, None, 'KiB'),
    ('peak RSS during the floods', 'peak_rss_flood_kib', 'limit_peak_rss_flood_kib', None, None, 'KiB'),
    ('idle wake-ups', 'idle_wakeups_per_s', None, None, 'python_idle_wakeups_per_s', '/s'),
    ('CPU at 10 chars x 10 Hz', 'cpu_pct_100hz', 'limit_cpu_pct_100hz', 'relay_cpu_pct_100hz', None, '%'),
    ('CPU per notification at 10 x 10 Hz', 'cpu_us_per_notify_100hz', 'limit_cpu_us_per_notify_100hz',
     'relay_cpu_us_per_notify_100hz', None, 'us'),
    ('CPU at 10 x 10 Hz, daemon / relay', 'cpu_vs_relay_100hz', None, None, None, 'ratio'),
    ('wake-ups per notification at 10 x 10 Hz', 'wakeups_per_notify_100hz', 'limit_wakeups_per_notify_100hz',
     'relay_wakeups_per_notify_100hz', None, 'count'),
    ('CPU migrations per notification, 10 x 10 Hz', 'migrations_per_notify_100hz',
     'limit_migrations_per_notify_100hz', 'relay_migrations_per_notify_100hz', None, 'count'),
]


def fmt(v):
    if v is None:
        return '-'
    if abs(v) >= 100:
        return '{:.0f}'.format(v)
    if abs(v) >= 10:
        return '{:.1f}'.format(v)
    return '{:.3g}'.format(v)


def report(b):
    f = b.figures

    def get(name):
        return f[name][0] if name in f else None

    print()
    print('ble-peripheral benchmark: {} ({} cores), Linux {}, {}'.format(cpu_model(), os.cpu_count(),
                                                                         platform.release(), versions()))
    print('run: {:.0f} s, load average {:.2f} before, {:.2f} after; other processes took up to {:.0f}% of '
          'the machine during a phase'.format(b.seconds, b.load0[0], b.load1[0],
                                             max((x for _, x in b.other_cpu), default=0)))
    print()
    row = '{:<44} {:>10} {:>10} {:>10} {:>10}  {}'
    head = row.format('', 'daemon', 'C limit', 'C relay', 'Python', 'unit')
    print(head)
    print('-' * len(head))
    for label, d, lim, rel, py, unit in ROWS:
        print(row.format(label, *(fmt(get(x) if x else None) for x in (d, lim, rel, py)), unit))
    print()
    row2 = '{:<44} {:>10} {:>10} {:>10}  {}'
    print(row2.format('acquired socket beside the bus (same run)', 'socket', 'bus', 'ratio', ''))
    for size in (20, 244):
        print(row2.format('notifications/s, {} B'.format(size), fmt(get('fast_per_s_{}'.format(size))),
                          fmt(get('bus_per_s_{}'.format(size))), fmt(get('fast_vs_bus_rate_{}'.format(size))), '/s'))
        print(row2.format('daemon CPU per notification, {} B'.format(size),
                          fmt(get('fast_cpu_us_per_notify_{}'.format(size))), fmt(get('bus_cpu_us_per_notify_{}'.format(size))),
                          fmt(get('fast_cpu_vs_bus_{}'.format(size))), 'us'))
        print(row2.format('+ receiver + dbus-daemon, {} B'.format(size),
                          fmt(get('fast_all_cpu_us_per_notify_{}'.format(size))),
                          fmt(get('bus_all_cpu_us_per_notify_{}'.format(size))), '', 'us'))
    print()
    met = missed = 0
    print('{:<24} {:>10}  {:<12} {}'.format('target', 'value', 'wanted', ''))
    for name, test, text in TARGETS:
        v = get(name)
        ok = v is not None and test(v)
        met += ok
        missed += not ok
        print('{:<24} {:>10}  {:<12} {}'.format(name, fmt(v), text, 'met' if ok else 'MISSED'))
    print()
    for what, rounds in b.rounds_seen:
        print('rounds, {:<14} {} /s; CPU {} us per notification'.format(
            what + ':', ' '.join('{:.0f}'.format(r['rate']) for r in rounds),
            ' '.join('{:.1f}'.format(r['cpu'] / r['received'] * 1e6 if r['received'] else 0) for r in rounds)))
    for who, rounds in sorted(getattr(b, 'low_rate_rounds', {}).items()):
        print('rounds, {:<14} {} % of a core at 10 x 10 Hz'.format(
            who + ':', ' '.join('{:.2f}'.format(100.0 * r['cpu'] / r['wall']) for r in rounds)))
    worst = {}
    for phase, pct in b.other_cpu:
        worst[phase] = max(worst.get(phase, 0), pct)
    busy = ['{} {:.0f}%'.format(phase, pct) for phase, pct in worst.items() if pct >= 10]
    if busy:
        print('other processes took, of all the cores, up to: ' + ', '.join(busy))
    print()
    if b.problems:
        for p in b.problems:
            print('PROBLEM: ' + p)
        print()
    for name in sorted(f):
        value, unit = f[name]
        print('bench {} {} {}'.format(name, round(value, 3) if isinstance(value, float) else value, unit))
    print('bench targets_met {} count'.format(met))
    print('bench targets_missed {} count'.format(missed))
    print('bench errors {} count'.format(len(b.problems)))
    return missed


def cpu_model():
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def versions():
    out = []
    try:
        out.append('GLib ' + subprocess.check_output(['pkg-config', '--modversion', 'glib-2.0'], text=True).strip())
    except (OSError, subprocess.CalledProcessError):
        pass
    try:
        out.append(subprocess.check_output(['dbus-daemon', '--version'], text=True).splitlines()[0]
                   .replace('D-Bus Message Bus Daemon ', 'dbus-daemon '))
    except (OSError, subprocess.CalledProcessError):
        pass
    return ', '.join(out)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--build-root', required=True)
    parser.add_argument('--source-root')
    parser.add_argument('--quick', action='store_true', help='a short smoke run')
    parser.add_argument('--check', action='store_true', help='exit 1 when a target is missed')
    parser.add_argument('--keep', action='store_true', help='keep the logs')
    parser.add_argument('--rounds', type=int, help='rounds of the daemon and limit floods (default 3)')
    args = parser.parse_args()

    b = None
    try:
        b = Bench(args)
        b.run()
    except BenchError as e:
        sys.stderr.write('bench: {}\n'.format(e))
        if b is not None:
            args.keep = True
            b.cleanup()
        return 1
    except KeyboardInterrupt:
        if b is not None:
            b.cleanup()
        return 130
    b.cleanup()
    missed = report(b)
    if b.problems:
        return 1
    if args.check and missed:
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
