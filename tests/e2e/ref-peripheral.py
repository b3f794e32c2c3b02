#!/usr/bin/python3
"""ref-peripheral — a small, fixed GATT peripheral for the e2e harness.

It registers one service and an advertisement with bluetoothd on an adapter
(hci0 by default), through the same D-Bus API ble-peripheral uses, so the
harness and the central can be checked without ble-peripheral, and a failing
scenario can be replayed against a known-good server.

Service 0000e2e0-0000-4000-8000-00000000e2e0, characteristics (UUID suffix):
  e2e1  read                 300 bytes 00 01 02 … (i % 256): long reads, offsets
  e2e2  read, write          stores the value; each WriteValue is logged
  e2e3  read, notify         while subscribed, a counter every 300 ms (1 byte)
  e2e4  indicate             while subscribed, a counter every 300 ms; Confirm logged
  e2e5  read, write          reads fail NotPermitted (ATT 0x02); writes over 4
                             bytes fail InvalidValueLength (ATT 0x0D)
  e2e6  read, notify         a burst: 0.5 s after a central subscribes (with
                             --burst-on-usr1: on SIGUSR1, once subscribed),
                             --burst notifications (2-byte counter 0001, 0002,
                             …, big-endian) as fast as D-Bus takes them, one
                             PropertiesChanged each (the radio benchmark)
Advertising: connectable, LocalName "e2e-ref", the service UUID, Appearance
0x0540, ManufacturerData 0xffff: 01 (the advertising data is then exactly
31 bytes: flags 3, appearance 4, 128-bit UUID 18, manufacturer data 6; the
name goes to the scan response).

Every call bluetoothd makes is logged, one line each, to --log (default
stderr): "read e2e1 offset=0 mtu=517 device=/org/bluez/...".

With --follow it registers again each time bluetoothd puts the adapter back
on the bus (after a restart), and stamps each line with the system's uptime
(CLOCK_BOOTTIME, as ble-peripheral's BLE_PERIPHERAL_LOG_UPTIME does): "[12.34]
adapter hci2 on the bus", "[12.56] registered gatt", "[12.61] registered
adv". The fault scenario takes this as the floor the daemon's own
re-registration is compared with, measured in the same guest at the same
moment.
"""

import argparse
import signal
import sys
import time

import dbus
import dbus.exceptions
import dbus.mainloop.glib
import dbus.service
from gi.repository import GLib

BLUEZ = "org.bluez"
PROPS = "org.freedesktop.DBus.Properties"
OM = "org.freedesktop.DBus.ObjectManager"
GATT_SERVICE = "org.bluez.GattService1"
GATT_CHRC = "org.bluez.GattCharacteristic1"
ADV = "org.bluez.LEAdvertisement1"

SERVICE_UUID = "0000e2e0-0000-4000-8000-00000000e2e0"


def chrc_uuid(suffix):
    return "0000%s-0000-4000-8000-00000000e2e0" % suffix


class BluezError(dbus.exceptions.DBusException):
    def __init__(self, name, message=""):
        super().__init__(message)
        self._dbus_error_name = "org.bluez.Error." + name


log_file = sys.stderr
burst_count = 200
burst_on_usr1 = False
stamp_lines = False


def log(text):
    if stamp_lines:
        text = "[%.2f] %s" % (time.clock_gettime(time.CLOCK_BOOTTIME), text)
    log_file.write(text + "\n")
    log_file.flush()


def describe(options):
    parts = []
    for key in ("offset", "mtu", "link", "type", "device"):
        if key in options:
            parts.append("%s=%s" % (key, options[key]))
    return " ".join(parts)


class Application(dbus.service.Object):
    def __init__(self, bus, path):
        super().__init__(bus, path)
        self.path = path
        self.objects = []

    @dbus.service.method(OM, out_signature="a{oa{sa{sv}}}")
    def GetManagedObjects(self):
        return {o.path: o.interfaces() for o in self.objects}


class Service(dbus.service.Object):
    def __init__(self, bus, path):
        super().__init__(bus, path)
        self.path = path

    def interfaces(self):
        return {GATT_SERVICE: {"UUID": SERVICE_UUID, "Primary": dbus.Boolean(True)}}

    @dbus.service.method(PROPS, in_signature="s", out_signature="a{sv}")
    def GetAll(self, interface):
        return self.interfaces().get(interface, {})


class Characteristic(dbus.service.Object):
    def __init__(self, bus, service, index, suffix, flags, value=b""):
        self.path = "%s/char%d" % (service.path, index)
        super().__init__(bus, self.path)
        self.service = service
        self.suffix = suffix
        self.flags = flags
        self.value = bytearray(value)
        self.timer = 0
        self.counter = 0
        self.subscribed = False

    def interfaces(self):
        return {
            GATT_CHRC: {
                "UUID": chrc_uuid(self.suffix),
                "Service": dbus.ObjectPath(self.service.path),
                "Flags": dbus.Array(self.flags, signature="s"),
            }
        }

    @dbus.service.method(PROPS, in_signature="s", out_signature="a{sv}")
    def GetAll(self, interface):
        return self.interfaces().get(interface, {})

    @dbus.service.method(GATT_CHRC, in_signature="a{sv}", out_signature="ay")
    def ReadValue(self, options):
        offset = int(options.get("offset", 0))
        log("read %s %s" % (self.suffix, describe(options)))
        if self.suffix == "e2e5":
            raise BluezError("NotPermitted", "read refused by design")
        if offset > len(self.value):
            raise BluezError("InvalidOffset")
        return dbus.Array(self.value[offset:], signature="y")

    @dbus.service.method(GATT_CHRC, in_signature="aya{sv}")
    def WriteValue(self, value, options):
        data = bytes(value)
        offset = int(options.get("offset", 0))
        log("write %s %s %s" % (self.suffix, data.hex(), describe(options)))
        if self.suffix == "e2e5" and len(data) > 4:
            raise BluezError("InvalidValueLength", "at most 4 bytes")
        if offset > len(self.value):
            raise BluezError("InvalidOffset")
        self.value[offset:] = data

    @dbus.service.method(GATT_CHRC, in_signature="", out_signature="")
    def StartNotify(self):
        log("start-notify %s" % self.suffix)
        if self.suffix == "e2e6":
            self.subscribed = True
            if self.timer == 0 and not burst_on_usr1:
                self.timer = GLib.timeout_add(500, self.burst)
            return
        if self.timer == 0:
            self.timer = GLib.timeout_add(300, self.tick)

    @dbus.service.method(GATT_CHRC, in_signature="", out_signature="")
    def StopNotify(self):
        log("stop-notify %s" % self.suffix)
        self.subscribed = False
        if self.timer != 0:
            GLib.source_remove(self.timer)
            self.timer = 0

    @dbus.service.method(GATT_CHRC, in_signature="", out_signature="")
    def Confirm(self):
        log("confirm %s" % self.suffix)

    @dbus.service.signal(PROPS, signature="sa{sv}as")
    def PropertiesChanged(self, interface, changed, invalidated):
        pass

    def burst(self):
        self.timer = 0
        log("burst %s %d" % (self.suffix, burst_count))
        for i in range(1, burst_count + 1):
            self.value = bytearray(i.to_bytes(2, "big"))
            self.PropertiesChanged(
                GATT_CHRC, {"Value": dbus.Array(self.value, signature="y")}, []
            )
        log("burst %s sent" % self.suffix)
        return False

    def burst_now(self):
        """SIGUSR1 with --burst-on-usr1: the burst, if a central is subscribed."""
        if not self.subscribed:
            log("burst %s refused: not subscribed" % self.suffix)
        elif self.timer == 0:
            self.timer = GLib.idle_add(self.burst)
        return True

    def tick(self):
        self.counter = (self.counter + 1) % 256
        self.value = bytearray([self.counter])
        log("notify %s %02x" % (self.suffix, self.counter))
        self.PropertiesChanged(
            GATT_CHRC, {"Value": dbus.Array(self.value, signature="y")}, []
        )
        return True


class Advertisement(dbus.service.Object):
    def __init__(self, bus, path, name):
        super().__init__(bus, path)
        self.path = path
        self.name = name

    def properties(self):
        return {
            "Type": "peripheral",
            "LocalName": self.name,
            "ServiceUUIDs": dbus.Array([SERVICE_UUID], signature="s"),
            "Appearance": dbus.UInt16(0x0540),
            "ManufacturerData": dbus.Dictionary(
                {dbus.UInt16(0xFFFF): dbus.Array([1], signature="y")},
                signature="qv",
            ),
            "Discoverable": dbus.Boolean(True),
        }

    @dbus.service.method(PROPS, in_signature="s", out_signature="a{sv}")
    def GetAll(self, interface):
        return self.properties() if interface == ADV else {}

    @dbus.service.method(ADV, in_signature="", out_signature="")
    def Release(self):
        log("advertisement released")


def main():
    global log_file, burst_count, burst_on_usr1, stamp_lines
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--adapter", default="hci0")
    parser.add_argument("--name", default="e2e-ref")
    parser.add_argument("--log", help="append the call log to this file")
    parser.add_argument("--ready-file", help="create this file once registered")
    parser.add_argument("--burst", type=int, default=200,
                        help="notifications of e2e6 per subscription (default 200)")
    parser.add_argument("--burst-on-usr1", action="store_true",
                        help="burst on SIGUSR1 (once subscribed) instead of 0.5 s after subscribing")
    parser.add_argument("--follow", action="store_true",
                        help="register again each time bluetoothd brings the adapter back; stamp the log")
    args = parser.parse_args()
    burst_count = args.burst
    burst_on_usr1 = args.burst_on_usr1
    stamp_lines = args.follow
    if args.log:
        log_file = open(args.log, "a", encoding="utf-8")

    dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
    bus = dbus.SystemBus()
    adapter_path = "/org/bluez/" + args.adapter

    app = Application(bus, "/org/e2e/ref")
    service = Service(bus, "/org/e2e/ref/service0")
    app.objects = [
        service,
        Characteristic(bus, service, 0, "e2e1", ["read"], bytes(i % 256 for i in range(300))),
        Characteristic(bus, service, 1, "e2e2", ["read", "write"], b"\x00"),
        Characteristic(bus, service, 2, "e2e3", ["read", "notify"], b"\x00"),
        Characteristic(bus, service, 3, "e2e4", ["indicate"], b"\x00"),
        Characteristic(bus, service, 4, "e2e5", ["read", "write"], b"\x00"),
        Characteristic(bus, service, 5, "e2e6", ["read", "notify"], b"\x00\x00"),
    ]
    burst_chrc = app.objects[-1]
    adv = Advertisement(bus, "/org/e2e/ref/adv0", args.name)
    loop = GLib.MainLoop()
    pending = {"gatt", "adv"}

    def done(what):
        def ok(*_):
            log("registered %s" % what)
            pending.discard(what)
            if not pending and args.ready_file:
                with open(args.ready_file, "w", encoding="utf-8") as f:
                    f.write("ready\n")

        def failed(error):
            log("FAILED to register %s: %s" % (what, error))
            if not args.follow:
                loop.quit()
                sys.exit(1)

        return ok, failed

    def register():
        adapter = bus.get_object(BLUEZ, adapter_path, introspect=False)
        pending.update(("gatt", "adv"))
        ok, failed = done("gatt")
        dbus.Interface(adapter, "org.bluez.GattManager1").RegisterApplication(
            dbus.ObjectPath(app.path), dbus.Dictionary({}, signature="sv"),
            reply_handler=ok, error_handler=failed
        )
        ok, failed = done("adv")
        dbus.Interface(adapter, "org.bluez.LEAdvertisingManager1").RegisterAdvertisement(
            dbus.ObjectPath(adv.path), dbus.Dictionary({}, signature="sv"),
            reply_handler=ok, error_handler=failed
        )

    if args.follow:
        # bluetoothd may add the adapter's interfaces in more than one signal
        seen = set()
        wanted = {"org.bluez.Adapter1", "org.bluez.GattManager1", "org.bluez.LEAdvertisingManager1"}

        def added(path, ifaces):
            if path != adapter_path or wanted <= seen:
                return
            seen.update(str(i) for i in ifaces)
            if not wanted <= seen:
                return
            log("adapter %s on the bus" % args.adapter)
            if not ifaces.get("org.bluez.Adapter1", {}).get("Powered", True):
                dbus.Interface(bus.get_object(BLUEZ, adapter_path, introspect=False), PROPS).Set(
                    "org.bluez.Adapter1", "Powered", dbus.Boolean(True), signature="ssv",
                    reply_handler=lambda: None, error_handler=lambda e: log("could not power on: %s" % e))
            register()

        def look():
            # the adapter may be there already when the name appears
            def got(objects):
                if adapter_path in objects:
                    added(adapter_path, objects[adapter_path])

            dbus.Interface(bus.get_object(BLUEZ, "/", introspect=False), OM).GetManagedObjects(
                reply_handler=got, error_handler=lambda e: None)

        def owner_changed(name, old, new):
            if name != BLUEZ:
                return
            if not new:
                log("bluetoothd left the bus")
                seen.clear()
            else:
                look()

        bus.add_signal_receiver(added, signal_name="InterfacesAdded", dbus_interface=OM)
        bus.add_signal_receiver(owner_changed, signal_name="NameOwnerChanged",
                                dbus_interface="org.freedesktop.DBus", arg0=BLUEZ)
        if bus.name_has_owner(BLUEZ):
            look()
    else:
        adapter = bus.get_object(BLUEZ, adapter_path)
        dbus.Interface(adapter, PROPS).Set("org.bluez.Adapter1", "Powered", dbus.Boolean(True))
        register()
    GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, 15, loop.quit)
    if burst_on_usr1:
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, signal.SIGUSR1, burst_chrc.burst_now)
    loop.run()


if __name__ == "__main__":
    main()
