#!/usr/bin/env python3
"""ble_peripheral's API against the real daemon, the stand-in org.bluez
playing the centrals: each call, its errors, captured writes (once, in
order, across a client restart), delegated reads (answered, refused, timed
out), connections (disconnected() waking when the central leaves) and a
daemon that goes away and comes back."""

import asyncio
import unittest

from bpharness import CENTRAL, CMD_UUID, DELEGATED_UUID, OTHER, SLOW_UUID, STATE_UUID, SystemTestCase

import ble_peripheral
from ble_peripheral import values


def signals(system):
    return int(system.command("count").split()[1])


class Characteristics(SystemTestCase):
    async def test_handles_from_the_configuration(self):
        p = await ble_peripheral.connect(self.sys.socket)
        self.assertEqual(set(p.characteristics()),
                         {"env/temperature", "env/humidity", "test/command", "test/state", "test/name",
                          "test/flag", "test/delegated", "test/slow", "other/temperature"})
        t = p.characteristic("env/temperature")
        self.assertEqual((t.id, t.format, t.exponent), ("env/temperature", "sint16", -2))
        self.assertEqual(t.info.uuid, "00002a6e-0000-1000-8000-00805f9b34fb")
        self.assertEqual(t.info.flags, ["read", "notify"])
        self.assertEqual(p.characteristic("humidity").id, "env/humidity")   # bare, unambiguous
        self.assertTrue(p.characteristic("test/command").info.capture)
        self.assertEqual(p.characteristic("test/command").info.queue_length, 16)
        self.assertEqual(p.characteristic("test/delegated").info.read_handler, "socket")
        with self.assertRaises(ble_peripheral.Ambiguous) as cm:
            p.characteristic("temperature")
        self.assertIn("env/temperature", str(cm.exception))
        with self.assertRaises(ble_peripheral.UnknownCharacteristic) as cm:
            p.characteristic("env/pressure")
        self.assertIn("env/pressure", str(cm.exception))
        await p.close()

    async def test_handles_made_before_connecting(self):
        # as aioble code makes them: at module level, before the event loop
        p = ble_peripheral.Peripheral(self.sys.socket)
        t = p.characteristic("env/temperature")
        h = p.characteristic("humidity")

        class TempChar(ble_peripheral.Characteristic):
            def on_read(self, connection):
                self.write(-3.5)
                return 0

        d = TempChar(p, "test/delegated")
        self.assertEqual(t.id, "env/temperature")
        with self.assertRaises(ble_peripheral.ConnectionLost) as cm:
            t.write(1)
        self.assertIn("not connected yet", str(cm.exception))
        self.assertIs(await p.connect(), p)
        self.assertEqual((h.id, h.format), ("env/humidity", "uint16"))
        await t.write(24.58)
        self.assertEqual(await t.read(decode=True), 24.58)
        await p.drain()
        self.assertEqual((await p.status())["test/delegated.served"], "yes")
        await self.sys.acommand("device %s" % CENTRAL)
        self.assertEqual((await self.sys.acommand("read %s" % DELEGATED_UUID)).split()[1], "a2fe")
        self.assertEqual(await d.read(decode=True), -3.5)
        await p.close()
        # one the configuration does not have: connect() says which
        bad = ble_peripheral.Peripheral(self.sys.socket)
        bad.characteristic("env/pressure")
        with self.assertRaises(ble_peripheral.UnknownCharacteristic) as cm:
            await bad.connect()
        self.assertIn("env/pressure", str(cm.exception))
        self.assertFalse(bad.is_connected())

    async def test_write_stores_without_notifying(self):
        p = await ble_peripheral.connect(self.sys.socket)
        t = p.characteristic("env/temperature")
        before = signals(self.sys)
        self.assertEqual(await t.write(24.58), "")
        self.assertEqual(await t.read(), bytes.fromhex("9a09"))
        self.assertEqual(await t.read(decode=True), 24.58)
        self.assertEqual((await self.sys.acommand("read 2a6e")).split()[1], "9a09")
        # bytes as they are, text, booleans
        await t.write(b"\x01\x02")
        self.assertEqual(await t.read(), b"\x01\x02")
        await p.characteristic("test/name").write("caméra \"7\"\n")
        self.assertEqual(await p.characteristic("test/name").read(decode=True), "caméra \"7\"\n")
        await p.characteristic("test/flag").write(True)
        self.assertEqual(await p.characteristic("test/flag").read(), b"\x01")
        await p.characteristic("test/state").write("hi")
        self.assertEqual(await p.characteristic("test/state").read(), b"hi")
        await p.characteristic("test/state").write(b"")
        self.assertEqual(await p.characteristic("test/state").read(), b"")
        self.assertEqual(signals(self.sys), before, "write() without send_update notified")
        await p.close()

    async def test_send_update_notifies_once_each_in_order(self):
        await asyncio.to_thread(self.sys.connect_central)
        p = await ble_peripheral.connect(self.sys.socket)
        h = p.characteristic("env/humidity")
        before = signals(self.sys)
        # aioble's way: not awaited; the requests go in order
        for v in (10, 20.5, 30.25):
            h.write(v, send_update=True)
        await p.drain()
        await self.sys.acommand("wait-signals %d 5000" % (before + 3))
        self.assertEqual(signals(self.sys), before + 3)
        self.assertEqual(await h.read(decode=True), 30.25)
        await p.close()

    async def test_invalid_values_raise_before_sending(self):
        p = await ble_peripheral.connect(self.sys.socket)
        t = p.characteristic("env/temperature")
        with self.assertRaises(ble_peripheral.OutOfRange) as cm:
            t.write(400, send_update=True)
        self.assertEqual(str(cm.exception), "out-of-range: notify env/temperature: 400 is out of range "
                         "for sint16 with exponent -2 (-327.68 to 327.67)")
        self.assertIsInstance(cm.exception, ValueError)
        with self.assertRaises(ble_peripheral.BadValue) as cm:
            t.write("warm")
        self.assertIn("set env/temperature: expected a number", str(cm.exception))
        with self.assertRaises(ble_peripheral.BadValue) as cm:
            p.characteristic("test/state").write(3)
        self.assertIn("test/state has no Format", str(cm.exception))
        with self.assertRaises(ble_peripheral.TooLong):
            p.characteristic("test/state").write(bytes(513))
        with self.assertRaises(ble_peripheral.BadValue):
            p.characteristic("test/name").write(b"\xff")
        self.assertEqual(await t.read(), bytes.fromhex("6608"), "a refused value changed the stored one")
        await p.close()

    async def test_daemon_errors_name_request_and_reason(self):
        p = await ble_peripheral.connect(self.sys.socket)
        with self.assertRaises(ble_peripheral.BadRequest) as cm:
            await p.request("frobnicate env/temperature")
        self.assertEqual(cm.exception.request, "frobnicate env/temperature")
        self.assertIn("frobnicate", str(cm.exception))
        # notify of a characteristic without notify/indicate: awaited
        state = p.characteristic("test/state")
        with self.assertRaises(ble_peripheral.NotPermitted) as cm:
            await state.write(b"\x01", send_update=True)
        self.assertEqual(cm.exception.name, "not-permitted")
        self.assertTrue(str(cm.exception).startswith("not-permitted: notify test/state"), str(cm.exception))
        # ... and not awaited: the next call raises it, once
        state.write(b"\x01", send_update=True)
        await self.sys.araw("status")  # a round trip elsewhere: the reply has come meanwhile
        await asyncio.sleep(0)
        with self.assertRaises(ble_peripheral.NotPermitted):
            await p.drain()
        await p.drain()
        self.assertEqual(await p.characteristic("env/temperature").read(), bytes.fromhex("6608"))
        # a central that is not connected
        with self.assertRaises(ble_peripheral.NotConnected):
            await p.request("disconnect %s" % OTHER)
        await p.close()

    async def test_notify_one_central(self):
        p = await ble_peripheral.connect(self.sys.socket)
        await self.sys.acommand("device %s" % CENTRAL)
        await self.sys.acommand("connect %s" % CENTRAL)
        conn = await self.wait_for(p.connected())
        t = p.characteristic("env/temperature")
        before = signals(self.sys)
        try:
            await t.notify(conn, 22.5)
        except ble_peripheral.NotSupported as e:
            # BlueZ < 5.76 (the stand-in's default) cannot tell centrals apart
            self.assertIn("to=%s" % CENTRAL, str(e))
            self.assertEqual(e.request, "notify env/temperature \"\\xca\\x08\" to=%s" % CENTRAL)
        else:
            await self.sys.acommand("wait-signals %d 5000" % (before + 1))
        await p.close()


class Connections(SystemTestCase):
    async def test_connected_disconnected(self):
        p = await ble_peripheral.connect(self.sys.socket)
        first = asyncio.create_task(p.connected())
        # a waiter that times out leaves the others waiting
        with self.assertRaises(asyncio.TimeoutError):
            await p.connected(timeout_ms=100)
        await self.sys.acommand("device %s" % CENTRAL)
        await self.sys.acommand("connect %s" % CENTRAL)
        conn = await self.wait_for(first)
        self.assertEqual(conn.device.addr_hex(), CENTRAL.lower())
        self.assertEqual(conn.device.address, CENTRAL)
        self.assertTrue(conn.is_connected())
        waiter = asyncio.create_task(conn.disconnected())
        await asyncio.sleep(0)
        self.assertFalse(waiter.done())
        await self.sys.acommand("disconnect %s" % CENTRAL)
        await self.wait_for(waiter)
        self.assertFalse(conn.is_connected())
        await conn.disconnected(timeout_ms=0)   # at once once gone
        # the same central again: a new connection
        await self.sys.acommand("connect %s" % CENTRAL)
        again = await self.wait_for(p.connected())
        self.assertIsNot(again, conn)
        self.assertTrue(again.is_connected())
        await p.close()

    async def test_centrals_already_connected_come_first(self):
        for addr in (CENTRAL, OTHER):
            self.sys.command("device %s" % addr)
            self.sys.command("connect %s" % addr)
        p = await ble_peripheral.connect(self.sys.socket)
        got = {(await self.wait_for(p.connected())).device.address for _ in range(2)}
        self.assertEqual(got, {CENTRAL, OTHER})
        self.assertEqual({c.device.address for c in p.connections()}, {CENTRAL, OTHER})
        await p.close()

    async def test_async_with_disconnects_the_central(self):
        p = await ble_peripheral.connect(self.sys.socket)
        await self.sys.acommand("device %s" % CENTRAL)
        await self.sys.acommand("connect %s" % CENTRAL)
        conn = await self.wait_for(p.connected())
        with self.assertRaises(RuntimeError):
            async with conn:
                raise RuntimeError("the serving code failed")
        self.assertFalse(conn.is_connected())
        self.assertEqual((await p.status())["centrals"], "0")
        # leaving after the central left does nothing
        await self.sys.acommand("connect %s" % CENTRAL)
        conn = await self.wait_for(p.connected())
        async with conn:
            await self.sys.acommand("disconnect %s" % CENTRAL)
            await self.wait_for(conn.disconnected())
        await p.close()


class Writes(SystemTestCase):
    async def test_captured_once_in_order_across_a_restart(self):
        # two writes before any producer watches: they wait in the daemon
        for v in ("01", "02"):
            await self.sys.acommand("write %s %s" % (CMD_UUID, v))
        p = await ble_peripheral.connect(self.sys.socket)
        cmd = p.characteristic("test/command")
        got = [await self.wait_for(cmd.written()) for _ in range(2)]
        self.assertEqual([d for _, d in got], [b"\x01", b"\x02"])
        self.assertEqual(got[0][0].device.address, CENTRAL)
        self.assertFalse(got[0][0].is_connected())   # the stand-in's writer never connected
        await self.sys.acommand("write %s 03" % CMD_UUID)       # while watched
        conn, data = await self.wait_for(cmd.written())
        self.assertEqual(data, b"\x03")
        await p.close()                                         # the producer restarts
        for v in ("04", "05", "0607"):
            await self.sys.acommand("write %s %s" % (CMD_UUID, v))
        p2 = await ble_peripheral.connect(self.sys.socket)
        cmd2 = p2.characteristic("test/command")
        got = [(await self.wait_for(cmd2.written()))[1] for _ in range(3)]
        self.assertEqual(got, [b"\x04", b"\x05", b"\x06\x07"])
        with self.assertRaises(asyncio.TimeoutError):
            await cmd2.written(timeout_ms=300)                  # nothing twice
        self.assertEqual((await p2.status())["test/command.queued"], "0")
        await p2.close()

    async def test_written_without_capture_wakes_once(self):
        p = await ble_peripheral.connect(self.sys.socket)
        state = p.characteristic("test/state")
        await p.watch_writes()
        await self.sys.acommand("write %s 0a" % STATE_UUID)
        await self.sys.acommand("write %s 0b" % STATE_UUID)
        conn = await self.wait_for(state.written())
        self.assertIsInstance(conn, ble_peripheral.Connection)
        self.assertEqual(conn.device.address, CENTRAL)
        self.assertEqual(await state.read(), b"\x0b")            # the latest value
        with self.assertRaises(asyncio.TimeoutError):
            await state.written(timeout_ms=200)                  # one wake for both
        await p.close()


class Reads(SystemTestCase):
    async def test_on_read_answers(self):
        p = await ble_peripheral.connect(self.sys.socket)
        seen = []

        class TempChar(ble_peripheral.Characteristic):
            answer = 0
            value = None

            def on_read(self, connection):
                seen.append(connection.device.addr_hex())
                if self.value is not None:
                    self.write(self.value)
                return self.answer

        t = TempChar(p, "test/delegated")
        await p.drain()   # serve answered
        self.assertEqual((await p.status())["test/delegated.served"], "yes")
        await self.sys.acommand("device %s" % CENTRAL)
        # 0 without a write: the stored value (Initial=1.5)
        self.assertEqual((await self.sys.acommand("read %s" % DELEGATED_UUID)).split()[1], "9600")
        # 0 after a write: that value, which is stored
        t.value = 24.58
        self.assertEqual((await self.sys.acommand("read %s" % DELEGATED_UUID)).split()[1], "9a09")
        self.assertEqual(await t.read(decode=True), 24.58)
        # an ATT error
        t.answer = 0x80
        reply = await self.sys.araw("read %s" % DELEGATED_UUID)
        self.assertTrue(reply.startswith("error ") and "0x80" in reply, reply)
        self.assertEqual(seen, [CENTRAL.lower()] * 3)
        self.assertEqual(t.late_replies, 0)
        await p.close()

    async def test_async_on_read_and_timeout(self):
        p = await ble_peripheral.connect(self.sys.socket)
        delay = {"s": 0.0}

        class Slow(ble_peripheral.Characteristic):
            async def on_read(self, connection):
                await asyncio.sleep(delay["s"])
                self.write(b"\xaa")
                return 0

        s = Slow(p, "test/slow")
        await p.drain()
        await self.sys.acommand("device %s" % CENTRAL)
        self.assertEqual((await self.sys.acommand("read %s" % SLOW_UUID)).split()[1], "aa")
        # ReadTimeout=300ms: an answer after 1 s is too late; the central
        # gets the stored value, the late reply is counted
        await s.write(b"\x01\x02")
        delay["s"] = 1.0
        self.assertEqual((await self.sys.acommand("read %s" % SLOW_UUID)).split()[1], "0102")
        with self.assertLogs("ble_peripheral", "WARNING") as logs:
            await self.wait_for(p._wait_until(lambda: s.late_replies or None, None))
        self.assertIn("timed out", logs.output[0])
        self.assertEqual(await s.read(), b"\x01\x02")
        await p.close()

    async def test_serving_twice_is_busy(self):
        p = await ble_peripheral.connect(self.sys.socket)
        p2 = await ble_peripheral.connect(self.sys.socket)

        class A(ble_peripheral.Characteristic):
            def on_read(self, connection):
                return 0

        await A(p, "test/delegated").serve()
        with self.assertRaises(ble_peripheral.Busy):
            await p2.characteristic("test/delegated").serve()
        with self.assertRaises(ble_peripheral.NotPermitted):
            await p2.characteristic("env/temperature").serve()
        await p.close()
        await p2.close()


class Daemon(SystemTestCase):
    async def test_lost_and_reconnect(self):
        p = await ble_peripheral.connect(self.sys.socket)

        class TempChar(ble_peripheral.Characteristic):
            def on_read(self, connection):
                self.write(-3.5)
                return 0

        TempChar(p, "test/delegated")
        await p.drain()
        waiter = asyncio.create_task(p.connected())
        await asyncio.sleep(0)
        self.assertEqual(await asyncio.to_thread(self.sys.stop_daemon), 0)
        with self.assertRaises(ble_peripheral.ConnectionLost):
            await self.wait_for(waiter)
        self.assertFalse(p.is_connected())
        with self.assertRaises(ble_peripheral.ConnectionLost):
            p.characteristic("env/temperature").write(1)
        # reconnect() waits for the daemon to come back
        back = asyncio.create_task(p.reconnect(timeout=20))
        await asyncio.sleep(0.2)
        self.assertFalse(back.done())
        await asyncio.to_thread(self.sys.start_daemon)
        await self.wait_for(back, 20)
        self.assertTrue(p.is_connected())
        await self.sys.acommand("wait-registered 10000")
        await p.characteristic("env/temperature").write(-1.25)
        self.assertEqual(await p.characteristic("env/temperature").read(decode=True), -1.25)
        # the on_read handler serves again
        await self.sys.acommand("device %s" % CENTRAL)
        self.assertEqual((await self.sys.acommand("read %s" % DELEGATED_UUID)).split()[1], "a2fe")
        await p.close()

    async def test_unreachable(self):
        with self.assertRaises(ble_peripheral.DaemonUnreachable) as cm:
            await ble_peripheral.connect(self.sys.socket + ".absent")
        self.assertIn(".absent", str(cm.exception))
        with self.assertRaises(ble_peripheral.DaemonUnreachable):
            await ble_peripheral.connect(self.sys.socket + ".absent", wait=0.3)


class Blocking(SystemTestCase):
    async def test_one_line_helpers(self):
        path = self.sys.socket

        def script():
            ble_peripheral.notify("env/temperature", 24.58, path=path)
            ble_peripheral.write("env/humidity", 45.5, path=path)
            with ble_peripheral.Client(path) as c:
                c.write("test/name", "cam", send_update=False)
                name = c.read("test/name", decode=True)
                with self.assertRaises(ble_peripheral.OutOfRange):
                    c.write("env/humidity", -1)
                with self.assertRaises(ble_peripheral.UnknownCharacteristic):
                    c.read("env/nothing")
            return (ble_peripheral.read("env/temperature", path=path),
                    ble_peripheral.read("humidity", decode=True, path=path), name,
                    ble_peripheral.status(path=path))

        await asyncio.to_thread(self.sys.connect_central)
        before = signals(self.sys)
        t, h, name, status = await asyncio.to_thread(script)
        self.assertEqual((t, h, name), (bytes.fromhex("9a09"), 45.5, "cam"))
        self.assertEqual(status["env/temperature.notify"], "1")
        self.assertEqual(signals(self.sys), before + 1)


if __name__ == "__main__":
    unittest.main(verbosity=2)
