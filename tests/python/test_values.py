#!/usr/bin/env python3
"""ble_peripheral.values encodes as the daemon does: for every Format and
several exponents, the same text (and the same Python numbers) sent to the
real daemon with `set` and encoded by the module give the same bytes, or the
same error (name and message); and decode() reads back what
ble-peripheralctl shows."""

import os
import random
import select
import socket
import subprocess
import unittest

from bpharness import SystemTestCase
import svctest

from ble_peripheral import RequestError, values

NUMERIC = ["uint8", "uint16", "uint24", "uint32", "uint64", "sint8", "sint16", "sint24", "sint32",
           "sint64", "float32", "float64"]
EXPONENTS = {"n2": -2, "e0": 0, "p3": 3}


def char_ids():
    out = [(f + k, f, e) for f in NUMERIC for k, e in EXPONENTS.items()]
    return out + [("booleane0", "boolean", 0), ("utf8e0", "utf8", 0), ("nonee0", None, 0)]


def config():
    text = "[Peripheral]\nName=values\n\n[Service v]\nUUID=12345678-ffff-1000-8000-00805f9b34fb\n"
    for i, (cid, fmt, exp) in enumerate(char_ids()):
        text += "\n[Characteristic v/%s]\nUUID=12345678-%04x-1000-8000-00805f9b34fb\nFlags=read\n" % (cid, i)
        if fmt:
            text += "Format=%s\nExponent=%d\n" % (fmt, exp)
    return text


TEXTS = """0 1 -1 +3 7 255 256 -128 -129 127 128 65535 65536 -32768 -32769 16777215 16777216 -8388608
-8388609 4294967295 4294967296 -2147483648 -2147483649 18446744073709551615 18446744073709551616
9223372036854775807 -9223372036854775808 -9223372036854775809 24.58 24.585 -24.585 0.5 -0.5 1.5 2.5
-2.5 0.004 0.005 -0.005 0.0049999 327.67 327.675 -327.68 -327.685 655.35 655.355 0x10 0xff 0xFFFF
0x0 -0x10 0x 0xg 1e2 1E-2 12.345e1 .5 5. . 1e 1e+ 1e-3 1.e2 nan NaN -nan inf -inf Infinity
-INFINITY infinity1 1e400 -1e400 1e-400 1e99999999999 3.4028235e38 3.4028236e38
340282356779733661637539395458142568448 340282356779733661637539395458142568447
-3.4028235e38 1.17549435e-38 1e-45 7e-46 0.1 0.2 0.3 1.7976931348623157e308 1.8e308
99999999999999999999999 0.000000000000000000000000005 000123 00.0100 -0 -0.0 true false TRUE
2 abc 1.2.3 --1 1_000 ١٢""".split()


def random_texts(n, seed=14):
    rnd = random.Random(seed)
    out = []
    for _ in range(n):
        digits = "".join(rnd.choice("0123456789") for _ in range(rnd.randint(1, 12)))
        cut = rnd.randint(0, len(digits))
        t = ("-" if rnd.random() < 0.3 else "") + digits[:cut] + ("." + digits[cut:] if cut < len(digits) else "")
        if rnd.random() < 0.4:
            t += "e%d" % rnd.randint(-50, 40)
        out.append(t)
    return out


def pipelined(path, lines):
    """Sends every line, reading replies meanwhile; returns the reply to each."""
    deadline = svctest.Deadline(60)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(path)
        s.setblocking(False)
        data = "".join(line + "\n" for line in lines).encode()
        replies = []
        buf = b""
        sent = 0
        while len(replies) < len(lines):
            want_write = [s] if sent < len(data) else []
            readable, writable, _ = select.select([s], want_write, [], deadline.left())
            if not readable and not writable:
                raise AssertionError("no reply from the daemon (%d of %d)" % (len(replies), len(lines)))
            if writable:
                sent += s.send(data[sent:sent + 65536])
            if readable:
                chunk = s.recv(1 << 20)
                if not chunk:
                    raise AssertionError("the daemon closed the connection")
                buf += chunk
                *done, buf = buf.split(b"\n")
                replies.extend(x.decode() for x in done)
        return replies


class Encoding(SystemTestCase):
    config = config()

    def compare(self, texts, py_values=None):
        cases = []
        lines = []
        for cid, fmt, exp in char_ids():
            for i, t in enumerate(texts):
                if fmt is None:
                    continue   # a bare word is hex there; the module takes bytes, and str as text
                cases.append((cid, fmt, exp, t, py_values[i] if py_values else t))
                lines += ["set v/%s %s" % (cid, t), "get v/%s" % cid]
        replies = pipelined(self.sys.socket, lines)
        mismatches = []
        for n, (cid, fmt, exp, text, value) in enumerate(cases):
            set_reply, get_reply = replies[2 * n], replies[2 * n + 1]
            try:
                mine = "ok " + values.to_token(values.encode(value, fmt, exp, "v/" + cid), None)
            except RequestError as e:
                mine = "error %s: set v/%s: %s" % (e.name, cid, e.reason)
            daemon = "ok " + get_reply[3:] if set_reply == "ok" else set_reply
            if mine.replace('""', "") != daemon.replace('""', ""):
                mismatches.append("%s %r: daemon %r, module %r" % (cid, value, daemon, mine))
        self.assertEqual(mismatches, [], "\n".join(mismatches[:30]))
        return len(cases)

    async def test_texts(self):
        n = self.compare(TEXTS)
        self.assertGreater(n, 3000)

    async def test_random_decimals(self):
        self.compare(random_texts(400))

    async def test_python_numbers(self):
        rnd = random.Random(7)
        nums = [24.58, -3.5, 0.1, 1e16, 1e-7, 2.5, 12345678901234567890, -(2 ** 63), 2 ** 64 - 1, True, False,
                float("nan"), float("inf"), -0.0, 1.7976931348623157e308, 3.4028235677973366e38]
        nums += [rnd.uniform(-400, 400) for _ in range(150)] + [rnd.randint(-2 ** 40, 2 ** 40) for _ in range(50)]
        texts = [values._number_text(v) for v in nums]
        self.compare(texts, nums)

    async def test_decode_as_ctl_shows(self):
        ctl = os.path.join(svctest.BUILD_ROOT, "src", "ctl", "ble-peripheralctl")
        samples = {"sint16n2": "-24.58", "uint16n2": "655.35", "uint8p3": "255000", "sint24e0": "-8388608",
                   "float32e0": "24.58", "float64n2": "0.1", "float32n2": "-1e-30", "booleane0": "true",
                   "utf8e0": "caméra", "uint64e0": "18446744073709551615", "sint8n2": "-0.05"}
        for cid, text in samples.items():
            fmt, exp = next((f, e) for c, f, e in char_ids() if c == cid)
            svctest.control_request(self.sys.socket, "set v/%s %s" % (cid, text))
            shown = subprocess.run([ctl, "--socket", self.sys.socket, "get", "v/" + cid], stdout=subprocess.PIPE,
                                   text=True, timeout=svctest.TIMEOUT).stdout.strip()
            hexval = svctest.control_request(self.sys.socket, "get v/%s" % cid)[3:]
            mine = values.decode(values.from_token(hexval), fmt, exp)
            if fmt == "utf8":
                self.assertEqual(mine, shown, cid)
            elif fmt == "boolean":
                self.assertEqual(str(mine).lower(), shown, cid)
            else:
                self.assertEqual(mine, float(shown) if "." in shown or "e" in shown else int(shown), cid)
                self.assertEqual(values.encode(mine, fmt, exp), values.from_token(hexval), cid)


if __name__ == "__main__":
    unittest.main(verbosity=2)
