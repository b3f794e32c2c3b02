#!/usr/bin/env python3
"""The Python client's overhead (python/ble_peripheral) beside the C
library's: notifications per second and CPU per notification, producer and
daemon, on a private bus with the stand-in bluetoothd (fake-bluez, which
counts the signals: every run checks that all arrived).

    python-client.py --build-root BUILD [--source-root SRC] [--quick] [--rounds N]

Producers, each notifying one 20-byte value per request (and 244 bytes for
the pipelined ones):

  C library        bench-client: bp_client_notify() in a loop (a round trip each)
  C pipelined      bench-producer flood: the protocol written directly, batched
  Python awaited   await char.write(v, send_update=True) in a loop (a round trip each)
  Python pipelined char.write(v, send_update=True) without await, drain(1024) every 256
  Python blocking  ble_peripheral.Client().write(…, send_update=True) (a round trip each)

Figures are medians of the rounds; each round runs every producer in turn.
Prints a table and one `bench NAME VALUE UNIT` line per figure. Not a test:
a benchmark (meson test --benchmark), kept out of the CI suites.
"""

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time


def producer(mode, path, char, count, size):
    """Runs in the producer process: prints done sent= seconds= cpu=."""
    import ble_peripheral

    def value(i):
        return i.to_bytes(4, "little") + b"\xa5" * (size - 4)

    if mode == "blocking":
        t0, c0 = time.monotonic(), time.process_time()
        with ble_peripheral.Client(path) as c:
            for i in range(count):
                c.write(char, value(i), send_update=True)
        t1, c1 = time.monotonic(), time.process_time()
    else:
        async def run():
            p = await ble_peripheral.connect(path)
            ch = p.characteristic(char)
            t0, c0 = time.monotonic(), time.process_time()
            if mode == "awaited":
                for i in range(count):
                    await ch.write(value(i), send_update=True)
            else:
                for i in range(count):
                    ch.write(value(i), send_update=True)
                    if i % 256 == 255:
                        await p.drain(1024)     # at most 1024 in flight
                await p.drain()
            t1, c1 = time.monotonic(), time.process_time()
            await p.close()
            return t0, c0, t1, c1
        t0, c0, t1, c1 = asyncio.run(run())
    print("done sent=%d seconds=%.6f cpu=%.6f" % (count, t1 - t0, c1 - c0), flush=True)


def cpu_seconds(pid):
    """CPU of every thread of pid (schedstat, ns)."""
    total = 0
    for tid in os.listdir("/proc/%d/task" % pid):
        try:
            with open("/proc/%d/task/%s/schedstat" % (pid, tid)) as f:
                total += int(f.read().split()[0])
        except OSError:
            pass
    return total / 1e9


CONFIG = """[Peripheral]
Name=bench-python

[Service bench]
UUID=b0e5d000-7b1a-4c2e-9d36-5e2a4b000000

[Characteristic bench/c0]
UUID=b0e5d000-7b1a-4c2e-9d36-5e2a4b000001
Flags=read,notify
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build-root", required=True)
    ap.add_argument("--source-root", default=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--producer", nargs=5, metavar=("MODE", "SOCKET", "CHAR", "COUNT", "SIZE"))
    args = ap.parse_args()
    sys.path.insert(0, os.path.join(args.source_root, "python"))
    if args.producer:
        mode, path, char, count, size = args.producer
        producer(mode, path, char, int(count), int(size))
        return 0

    os.environ["BP_BUILD_ROOT"] = os.path.abspath(args.build_root)
    sys.path.insert(0, os.path.join(args.source_root, "tests", "service"))
    import svctest
    from svctest import Bus, Daemon, FakeBluez, TempDir

    n_rt = 2000 if args.quick else 20000
    n_pipe = 5000 if args.quick else 100000
    rounds = 1 if args.quick else args.rounds
    bench_client = os.path.join(args.build_root, "bench", "bench-client")
    bench_producer = os.path.join(args.build_root, "bench", "bench-producer")
    me = os.path.abspath(__file__)
    py = [sys.executable, me, "--build-root", args.build_root, "--source-root", args.source_root, "--producer"]

    tmp = TempDir()
    closers = []
    try:
        bus = Bus(tmp)
        closers.append(bus)
        fb = FakeBluez(bus)
        closers.append(fb)
        sock = tmp.file("control")
        daemon = Daemon(tmp, bus, ["--config", tmp.file("bench.conf", CONFIG), "--socket", sock])
        closers.append(daemon)
        fb.command("wait-registered 10000")
        runs = [
            # name, argv, count, size, parse the producer's own CPU
            ("c_library", [bench_client, sock, "bench/c0", str(n_rt), "20"], n_rt, 20),
            ("c_pipelined", [bench_producer, sock, "flood", "bench/c0", str(n_pipe), "20"], n_pipe, 20),
            ("python_awaited", py + ["awaited", sock, "bench/c0", str(n_rt), "20"], n_rt, 20),
            ("python_pipelined", py + ["pipelined", sock, "bench/c0", str(n_pipe), "20"], n_pipe, 20),
            ("python_blocking", py + ["blocking", sock, "bench/c0", str(n_rt), "20"], n_rt, 20),
            ("c_pipelined_244", [bench_producer, sock, "flood", "bench/c0", str(n_pipe), "244"], n_pipe, 244),
            ("python_pipelined_244", py + ["pipelined", sock, "bench/c0", str(n_pipe), "244"], n_pipe, 244),
        ]
        results = {name: [] for name, *_ in runs}
        signals = int(fb.command("count").split()[1])
        for r in range(rounds):
            for name, argv, count, size in runs:
                d0 = cpu_seconds(daemon.pid)
                t0 = time.monotonic()
                proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                _, status, usage = os.wait4(proc.pid, 0)
                wall = time.monotonic() - t0
                out = proc.stdout.read()
                err = proc.stderr.read()
                proc.stdout.close()
                proc.stderr.close()
                if status != 0 or "done" not in out:
                    print("%s failed (%d): %s %s" % (name, status, out, err))
                    return 1
                signals += count
                reply = fb.command("wait-signals %d 60000" % signals)
                if int(reply.split()[1]) < signals:
                    print("%s: signals missing: %s" % (name, reply))
                    return 1
                d1 = cpu_seconds(daemon.pid)
                words = dict(w.split("=", 1) for w in out.split() if "=" in w)
                seconds = float(words["seconds"])
                # the producer's loop as it measured itself (CPU time, no
                # interpreter start-up); bench-producer: the whole process
                own = float(words["cpu"]) if "cpu" in words else usage.ru_utime + usage.ru_stime
                results[name].append({
                    "rate": count / seconds,
                    "producer_us": own / count * 1e6,
                    "daemon_us": (d1 - d0) / count * 1e6,
                })
                print("# round %d %-22s %8.0f /s  producer %6.1f us  daemon %6.1f us  (%.1f s)" % (
                    r + 1, name, count / seconds, own / count * 1e6, (d1 - d0) / count * 1e6, wall), flush=True)
    finally:
        for c in reversed(closers):
            try:
                c.close()
            except Exception:
                pass
        tmp.close()

    print()
    print("| producer | notifications/s | producer CPU / notification | daemon CPU / notification |")
    print("|---|---:|---:|---:|")
    med = {}
    for name in results:
        m = {k: statistics.median(x[k] for x in results[name]) for k in ("rate", "producer_us", "daemon_us")}
        med[name] = m
        print("| %s | %.0f | %.1f µs | %.1f µs |" % (name, m["rate"], m["producer_us"], m["daemon_us"]))
    print()
    for name, m in med.items():
        print("bench python_client_%s_per_s %.0f per_s" % (name, m["rate"]))
        print("bench python_client_%s_producer_cpu %.2f us" % (name, m["producer_us"]))
        print("bench python_client_%s_daemon_cpu %.2f us" % (name, m["daemon_us"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
