#!/usr/bin/python3
# The Python reference of the benchmark: a GATT peripheral as users write
# one today, in the manner of BlueZ's test/example-gatt-server — dbus-python
# objects on a GLib main loop, an ObjectManager application registered with
# GattManager1.RegisterApplication, values held in-process as dbus.Array of
# dbus.Byte, and a PropertiesChanged signal sent for each new value.
# Written for the benchmark; not installed.
#
#   python-peripheral.py [--chars N]
#
# One service of N characteristics (default 2, as the daemon's default
# configuration), each read+notify with a Presentation Format descriptor.
# Characteristic 0 (UUID …0001) is the one notified; characteristic 1
# (…0002) answers reads.
# Prints "registered" once bluetoothd (the stand-in) accepted the
# application, "notifying" when characteristic 0 gets StartNotify, then
# takes commands on stdin:
#
#   flood COUNT SIZE    COUNT new values as fast as the main loop goes,
#                       "done sent=N seconds=S" once all are on the bus
#   quit
#
# Values are those of bench-value.h (sequence, send time, filler).

import argparse
import os
import struct
import sys
import time

import dbus
import dbus.exceptions
import dbus.mainloop.glib
import dbus.service
from gi.repository import GLib

BLUEZ_SERVICE_NAME = 'org.bluez'
GATT_MANAGER_IFACE = 'org.bluez.GattManager1'
DBUS_OM_IFACE = 'org.freedesktop.DBus.ObjectManager'
DBUS_PROP_IFACE = 'org.freedesktop.DBus.Properties'
GATT_SERVICE_IFACE = 'org.bluez.GattService1'
GATT_CHRC_IFACE = 'org.bluez.GattCharacteristic1'
GATT_DESC_IFACE = 'org.bluez.GattDescriptor1'

APP_PATH = '/org/bench/python'
SERVICE_UUID = 'b0e5f000-7b1a-4c2e-9d36-5e2a4b000000'
CHAR_UUID = 'b0e5f000-7b1a-4c2e-9d36-5e2a4b00{:04x}'
BATCH = 100


class InvalidArgsException(dbus.exceptions.DBusException):
    _dbus_error_name = 'org.freedesktop.DBus.Error.InvalidArgs'


class NotSupportedException(dbus.exceptions.DBusException):
    _dbus_error_name = 'org.bluez.Error.NotSupported'


class Application(dbus.service.Object):
    """The ObjectManager bluetoothd reads the database from."""

    def __init__(self, bus):
        self.path = APP_PATH
        self.services = []
        dbus.service.Object.__init__(self, bus, self.path)

    def get_path(self):
        return dbus.ObjectPath(self.path)

    def add_service(self, service):
        self.services.append(service)

    @dbus.service.method(DBUS_OM_IFACE, out_signature='a{oa{sa{sv}}}')
    def GetManagedObjects(self):
        response = {}
        for service in self.services:
            response[service.get_path()] = service.get_properties()
            for chrc in service.characteristics:
                response[chrc.get_path()] = chrc.get_properties()
                for desc in chrc.descriptors:
                    response[desc.get_path()] = desc.get_properties()
        return response


class Service(dbus.service.Object):
    def __init__(self, bus, index, uuid, primary):
        self.path = APP_PATH + '/service' + str(index)
        self.bus = bus
        self.uuid = uuid
        self.primary = primary
        self.characteristics = []
        dbus.service.Object.__init__(self, bus, self.path)

    def get_properties(self):
        return {
            GATT_SERVICE_IFACE: {
                'UUID': self.uuid,
                'Primary': self.primary,
                'Characteristics': dbus.Array(
                    [c.get_path() for c in self.characteristics], signature='o'),
            }
        }

    def get_path(self):
        return dbus.ObjectPath(self.path)

    def add_characteristic(self, chrc):
        self.characteristics.append(chrc)

    @dbus.service.method(DBUS_PROP_IFACE, in_signature='s', out_signature='a{sv}')
    def GetAll(self, interface):
        if interface != GATT_SERVICE_IFACE:
            raise InvalidArgsException()
        return self.get_properties()[GATT_SERVICE_IFACE]


class Characteristic(dbus.service.Object):
    def __init__(self, bus, index, uuid, flags, service):
        self.path = service.path + '/char' + str(index)
        self.bus = bus
        self.uuid = uuid
        self.service = service
        self.flags = flags
        self.descriptors = []
        self.notifying = False
        self.on_notify = None
        self.value = dbus.Array([dbus.Byte(0), dbus.Byte(0)], signature='y')
        dbus.service.Object.__init__(self, bus, self.path)

    def get_properties(self):
        return {
            GATT_CHRC_IFACE: {
                'Service': self.service.get_path(),
                'UUID': self.uuid,
                'Flags': self.flags,
                'Descriptors': dbus.Array(
                    [d.get_path() for d in self.descriptors], signature='o'),
            }
        }

    def get_path(self):
        return dbus.ObjectPath(self.path)

    def add_descriptor(self, desc):
        self.descriptors.append(desc)

    def set_value(self, data):
        """A new value from the application: keep it, tell the centrals."""
        self.value = dbus.Array([dbus.Byte(b) for b in data], signature='y')
        if self.notifying:
            self.PropertiesChanged(GATT_CHRC_IFACE, {'Value': self.value}, [])

    @dbus.service.method(DBUS_PROP_IFACE, in_signature='s', out_signature='a{sv}')
    def GetAll(self, interface):
        if interface != GATT_CHRC_IFACE:
            raise InvalidArgsException()
        return self.get_properties()[GATT_CHRC_IFACE]

    @dbus.service.method(GATT_CHRC_IFACE, in_signature='a{sv}', out_signature='ay')
    def ReadValue(self, options):
        offset = int(options.get('offset', 0))
        return self.value[offset:]

    @dbus.service.method(GATT_CHRC_IFACE, in_signature='aya{sv}')
    def WriteValue(self, value, options):
        raise NotSupportedException()

    @dbus.service.method(GATT_CHRC_IFACE)
    def StartNotify(self):
        if self.notifying:
            return
        self.notifying = True
        if self.on_notify is not None:
            self.on_notify()

    @dbus.service.method(GATT_CHRC_IFACE)
    def StopNotify(self):
        self.notifying = False

    @dbus.service.signal(DBUS_PROP_IFACE, signature='sa{sv}as')
    def PropertiesChanged(self, interface, changed, invalidated):
        pass


class PresentationFormat(dbus.service.Object):
    """0x2904: uint16, exponent -2, unitless."""

    def __init__(self, bus, index, chrc):
        self.path = chrc.path + '/desc' + str(index)
        self.chrc = chrc
        self.value = dbus.Array([dbus.Byte(b) for b in (0x06, 0xfe, 0x00, 0x27, 0x01, 0x00, 0x00)],
                                signature='y')
        dbus.service.Object.__init__(self, bus, self.path)

    def get_properties(self):
        return {
            GATT_DESC_IFACE: {
                'Characteristic': self.chrc.get_path(),
                'UUID': '2904',
                'Flags': ['read'],
            }
        }

    def get_path(self):
        return dbus.ObjectPath(self.path)

    @dbus.service.method(GATT_DESC_IFACE, in_signature='a{sv}', out_signature='ay')
    def ReadValue(self, options):
        return self.value


def find_adapter(bus):
    om = dbus.Interface(bus.get_object(BLUEZ_SERVICE_NAME, '/'), DBUS_OM_IFACE)
    for path, interfaces in om.GetManagedObjects().items():
        if GATT_MANAGER_IFACE in interfaces:
            return path
    return None


def say(line):
    sys.stdout.write(line + '\n')
    sys.stdout.flush()


class Bench:
    def __init__(self, bus, chrc, loop):
        self.bus = bus
        self.chrc = chrc
        self.loop = loop
        self.input = b''

    def flood(self, count, size):
        # What the producer of the daemon computes in its own process is
        # ready-made here, so that the reference pays for D-Bus, not for
        # making up test data.
        fillers = [bytes((seq + i) & 0xff for i in range(16, size)) for seq in range(256)]
        chrc = self.chrc
        state = {'seq': 0}
        start = time.monotonic_ns()

        def batch():
            seq = state['seq']
            end = min(seq + BATCH, count)
            while seq < end:
                chrc.set_value(struct.pack('<QQ', seq, time.monotonic_ns()) + fillers[seq & 0xff])
                seq += 1
            state['seq'] = seq
            if seq < count:
                return True
            self.bus.flush()
            say('done sent={} seconds={:.6f}'.format(seq, (time.monotonic_ns() - start) / 1e9))
            return False

        GLib.idle_add(batch)

    def on_stdin(self, channel, condition):
        data = os.read(channel.unix_get_fd(), 4096)
        if not data:
            self.loop.quit()
            return False
        self.input += data
        while b'\n' in self.input:
            line, self.input = self.input.split(b'\n', 1)
            words = line.decode().split()
            if len(words) == 3 and words[0] == 'flood':
                self.flood(int(words[1]), int(words[2]))
            elif words == ['quit']:
                self.loop.quit()
                return False
            elif words:
                say('error unknown command')
        return True


def main():
    parser = argparse.ArgumentParser(description='GATT peripheral in the style of example-gatt-server')
    parser.add_argument('--chars', type=int, default=2)
    args = parser.parse_args()

    dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
    bus = dbus.SystemBus()
    adapter = find_adapter(bus)
    if adapter is None:
        sys.stderr.write('python-peripheral: GattManager1 not found\n')
        return 1

    app = Application(bus)
    service = Service(bus, 0, SERVICE_UUID, True)
    app.add_service(service)
    for i in range(max(args.chars, 2)):
        chrc = Characteristic(bus, i, CHAR_UUID.format(i + 1), ['read', 'notify'], service)
        chrc.add_descriptor(PresentationFormat(bus, 0, chrc))
        service.add_characteristic(chrc)
    service.characteristics[0].on_notify = lambda: say('notifying')

    loop = GLib.MainLoop()
    bench = Bench(bus, service.characteristics[0], loop)

    def registered():
        say('registered')

    def register_failed(error):
        sys.stderr.write('python-peripheral: RegisterApplication: {}\n'.format(error))
        loop.quit()

    manager = dbus.Interface(bus.get_object(BLUEZ_SERVICE_NAME, adapter), GATT_MANAGER_IFACE)
    manager.RegisterApplication(app.get_path(), {},
                                reply_handler=registered, error_handler=register_failed)

    channel = GLib.IOChannel.unix_new(sys.stdin.fileno())
    channel.set_encoding(None)
    channel.set_flags(GLib.IOFlags.NONBLOCK)
    GLib.io_add_watch(channel, GLib.PRIORITY_DEFAULT, GLib.IO_IN | GLib.IO_HUP, bench.on_stdin)
    loop.run()
    return 0


if __name__ == '__main__':
    sys.exit(main())
