#!/usr/bin/env python3
"""What `meson install` puts in place, in a DESTDIR.

  test-install.py MESON BUILD_DIR MODE

  files    every file of the issue, where it belongs, working; a second
           install keeps an edited configuration
  unit     the installed units pass systemd-analyze verify; systemd-analyze
           security rates the service 2.0 or lower
  options  -Dtests=false, -Ddocs=false and -Dsystemdsystemunitdir= do what
           they say (a configuration of the source tree, not a build)
"""

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile

SECURITY_LIMIT = 2.0


class Failure(Exception):
    pass


def check(condition, message):
    if not condition:
        raise Failure(message)


def log(message):
    print("# " + message, flush=True)


def run(argv, env=None, timeout=300, ok=True):
    proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                          env=env, timeout=timeout, text=True)
    if ok and proc.returncode != 0:
        raise Failure("%s failed (%d):\n%s" % (" ".join(argv), proc.returncode, proc.stdout))
    return proc


class Install:
    """The build's options and one DESTDIR install of it."""

    def __init__(self, meson, build, destdir):
        self.meson, self.build, self.destdir = meson, build, destdir
        options = json.loads(run([meson, "introspect", build, "--buildoptions"]).stdout)
        self.options = {o["name"]: o["value"] for o in options}
        self.prefix = self.options["prefix"]

    def dir(self, option):
        """An installation directory option, absolute."""
        return os.path.join(self.prefix, self.options[option])

    def install(self):
        return run([self.meson, "install", "-C", self.build, "--destdir", self.destdir,
                    "--no-rebuild"]).stdout

    def path(self, absolute):
        """Where an installed absolute path is inside DESTDIR."""
        return os.path.join(self.destdir, absolute.lstrip("/"))

    def systemd_dir(self, variable, fallback):
        """The directory data/meson.build should have chosen: systemd's
        pkg-config variable for this prefix, else fallback."""
        proc = run(["pkg-config", "--define-variable=prefix=" + self.prefix,
                    "--variable=" + variable, "systemd"], ok=False)
        value = proc.stdout.strip() if proc.returncode == 0 else ""
        return value or os.path.join(self.prefix, fallback)

    def unitdir(self):
        return (self.options.get("systemdsystemunitdir") or
                self.systemd_dir("systemdsystemunitdir", "lib/systemd/system"))


def exists(inst, absolute, executable=False):
    p = inst.path(absolute)
    check(os.path.isfile(p), "not installed: %s" % absolute)
    if executable:
        check(os.access(p, os.X_OK), "not executable: %s" % absolute)
    log("installed: %s" % absolute)
    return p


def unit_keys(path):
    """KEY -> [values] of a unit file (all sections together)."""
    keys = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;[" or "=" not in line:
                continue
            key, value = line.split("=", 1)
            keys.setdefault(key.strip(), []).append(value.strip())
    return keys


def test_files(inst, source):
    out = inst.install()
    sbindir, bindir, libdir = inst.dir("sbindir"), inst.dir("bindir"), inst.dir("libdir")
    env = dict(os.environ, LD_LIBRARY_PATH=inst.path(libdir))

    daemon = exists(inst, os.path.join(sbindir, "ble-peripheral"), executable=True)
    check(run([daemon, "--version"]).stdout.startswith("ble-peripheral "), "ble-peripheral --version")
    # The notify protocol is the daemon's own (src/daemon/service.c): libsystemd
    # would map six more libraries, ~1.2 MiB of resident memory.
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^\]]+)\]", run(["readelf", "-d", daemon]).stdout)
    check(needed and not any(n.startswith("libsystemd") for n in needed),
          "the daemon links %s" % " ".join(needed))
    ctl = exists(inst, os.path.join(bindir, "ble-peripheralctl"), executable=True)
    # The installed ble-peripheralctl finds the installed library.
    check(run([ctl, "--version"], env=env).stdout.startswith("ble-peripheralctl "),
          "ble-peripheralctl --version with the installed library")

    lib = os.path.join(libdir, "libble-peripheral.so")
    for name in (lib, lib + ".0"):
        check(os.path.islink(inst.path(name)), "not a symbolic link: %s" % name)
    check(os.path.isfile(os.path.realpath(inst.path(lib + ".0"))), "dangling: %s.0" % lib)
    header = exists(inst, os.path.join(inst.dir("includedir"), "ble-peripheral", "client.h"))
    pc = exists(inst, os.path.join(libdir, "pkgconfig", "ble-peripheral.pc"))
    pc_env = dict(os.environ, PKG_CONFIG_PATH=os.path.dirname(pc), PKG_CONFIG_SYSROOT_DIR=inst.destdir)
    cflags = run(["pkg-config", "--cflags", "ble-peripheral"], env=pc_env).stdout
    libs = run(["pkg-config", "--libs", "ble-peripheral"], env=pc_env).stdout
    check(os.path.dirname(os.path.dirname(header)) in cflags, "pkg-config --cflags: %r" % cflags)
    check("-lble-peripheral" in libs, "pkg-config --libs: %r" % libs)

    if inst.options.get("docs", True):
        mandir = inst.dir("mandir")
        for page in ("man8/ble-peripheral.8", "man1/ble-peripheralctl.1", "man5/ble-peripheral.conf.5"):
            exists(inst, os.path.join(mandir, page))

    confdir = os.path.join(inst.dir("sysconfdir"), "ble-peripheral")
    conf = exists(inst, os.path.join(confdir, "ble-peripheral.conf"))
    with open(conf) as a, open(os.path.join(source, "conf", "ble-peripheral.conf")) as b:
        check(a.read() == b.read(), "the installed configuration differs from conf/ble-peripheral.conf")
    check(stat.S_IMODE(os.stat(conf).st_mode) == 0o644, "configuration mode %o" % os.stat(conf).st_mode)
    check(os.path.isdir(inst.path(os.path.join(confdir, "conf.d"))), "no %s/conf.d" % confdir)

    unitdir = inst.unitdir()
    service = exists(inst, os.path.join(unitdir, "ble-peripheral.service"))
    keys = unit_keys(service)
    expect = {
        "Type": "notify",
        "NotifyAccess": "main",
        "ExecStart": os.path.join(sbindir, "ble-peripheral"),
        "ExecReload": "/bin/kill -HUP $MAINPID",
        "Restart": "on-failure",
        "User": "ble-peripheral",
    }
    for key, value in expect.items():
        check(keys.get(key) == [value], "%s: %s=%r, expected %r" % (service, key, keys.get(key), value))
    check("WatchdogSec" in keys, "%s: no WatchdogSec=" % service)
    for key in ("After", "Wants"):
        check(any("bluetooth.service" in v.split() for v in keys.get(key, [])),
              "%s: %s= lacks bluetooth.service" % (service, key))
    socket_unit = exists(inst, os.path.join(unitdir, "ble-peripheral.socket"))
    check(unit_keys(socket_unit).get("ListenStream") == ["/run/ble-peripheral/control"],
          "%s: ListenStream=" % socket_unit)

    sysusers = exists(inst, os.path.join(inst.systemd_dir("sysusersdir", "lib/sysusers.d"),
                                         "ble-peripheral.conf"))
    tmpfiles = exists(inst, os.path.join(inst.systemd_dir("tmpfilesdir", "lib/tmpfiles.d"),
                                         "ble-peripheral.conf"))
    # Apply both to an empty root: the user exists, in group bluetooth, and
    # owns the runtime directory.
    root = tempfile.mkdtemp(prefix="bp-root-")
    try:
        os.makedirs(os.path.join(root, "etc"))
        run(["systemd-sysusers", "--root=" + root, sysusers])
        with open(os.path.join(root, "etc", "passwd")) as f:
            users = {l.split(":")[0]: l.split(":") for l in f}
        with open(os.path.join(root, "etc", "group")) as f:
            groups = {l.split(":")[0]: l.rstrip("\n").split(":") for l in f}
        check("ble-peripheral" in users, "sysusers.d made no user ble-peripheral")
        check(users["ble-peripheral"][6].strip().endswith("nologin"), "ble-peripheral has a login shell")
        check("bluetooth" in groups and "ble-peripheral" in groups["bluetooth"][3].split(","),
              "sysusers.d: ble-peripheral is not in group bluetooth: %r" % groups.get("bluetooth"))
        log("sysusers.d: user ble-peripheral (uid %s), member of bluetooth" % users["ble-peripheral"][2])
        if os.geteuid() == 0:
            run(["systemd-tmpfiles", "--create", "--root=" + root, tmpfiles])
            st = os.stat(os.path.join(root, "run", "ble-peripheral"))
            check(str(st.st_uid) == users["ble-peripheral"][2], "tmpfiles.d: /run/ble-peripheral owner %d" % st.st_uid)
            log("tmpfiles.d: /run/ble-peripheral owned by ble-peripheral")
        else:
            log("tmpfiles.d not applied: chown needs root")
    finally:
        shutil.rmtree(root, ignore_errors=True)

    log("a second install keeps an edited configuration")
    with open(conf, "a") as f:
        f.write("# edited by the administrator\n")
    with open(conf) as f:
        edited = f.read()
    out = inst.install()
    with open(conf) as f:
        check(f.read() == edited, "the second install overwrote the edited %s" % conf)
    check("Keeping the existing" in out, "the second install did not say it kept the configuration")


def test_unit(inst):
    analyze = shutil.which("systemd-analyze")
    check(analyze, "systemd-analyze is not installed (Debian: package systemd)")
    inst.install()
    unitdir = inst.unitdir()
    daemon = os.path.join(inst.dir("sbindir"), "ble-peripheral")
    # systemd-analyze verify checks that ExecStart= exists: point the copies
    # at the DESTDIR's daemon. (--root=DESTDIR would lack sysinit.target and
    # /bin/kill.)
    work = tempfile.mkdtemp(prefix="bp-units-")
    try:
        units = []
        names = ["ble-peripheral.service", "ble-peripheral.socket"]
        for name in names:
            with open(inst.path(os.path.join(unitdir, name))) as f:
                text = f.read()
            text = text.replace("ExecStart=" + daemon, "ExecStart=" + inst.path(daemon))
            units.append(os.path.join(work, name))
            with open(units[-1], "w") as f:
                f.write(text)
            if name == "ble-peripheral.service":
                # [Channel NAME]: L2CAP sockets are AF_BLUETOOTH, which exist
                # only in the initial network namespace.
                families = re.findall(r"^RestrictAddressFamilies=(.*)$", text, re.M)
                check(families and all("AF_BLUETOOTH" in f.split() for f in families),
                      "RestrictAddressFamilies= does not allow AF_BLUETOOTH (L2CAP channels)")
                for key in ("PrivateNetwork", "NetworkNamespacePath", "JoinsNamespaceOf", "PrivateUsers"):
                    on = re.findall(r"^%s=(.*)$" % key, text, re.M)
                    check(not [v for v in on if v.strip() not in ("no", "false", "0", "")],
                          "%s= moves the daemon out of the initial network namespace: AF_BLUETOOTH fails there" % key)
        env = dict(os.environ, SYSTEMD_LOG_LEVEL="notice")
        argv = [analyze, "verify"]
        if shutil.which("man") and inst.options.get("docs", True):
            # Documentation=man: pages are looked up among the installed ones.
            env["MANPATH"] = inst.path(inst.dir("mandir"))
            log("systemd-analyze verify, man pages from the DESTDIR")
        else:
            argv.append("--man=no")
            log("systemd-analyze verify --man=no (no man(1), or -Ddocs=false)")
        proc = run(argv + units, env=env, ok=False)
        print(proc.stdout, end="")
        # Other units of the host may draw remarks; ours must draw none.
        ours = [l for l in proc.stdout.splitlines() if "ble-peripheral" in l]
        check(proc.returncode == 0 and not ours, "systemd-analyze verify reported problems")

        proc = run([analyze, "security", "--no-pager", "--offline=true",
                    "--threshold=%d" % int(SECURITY_LIMIT * 10), units[0]], env=env, ok=False)
        print(proc.stdout, end="")
        m = re.search(r"Overall exposure level for ble-peripheral\.service: ([0-9.]+)", proc.stdout)
        check(m, "no exposure level in the systemd-analyze security output")
        score = float(m.group(1))
        log("systemd-analyze security: %.1f (limit %.1f)" % (score, SECURITY_LIMIT))
        check(score <= SECURITY_LIMIT and proc.returncode == 0,
              "exposure %.1f is over %.1f" % (score, SECURITY_LIMIT))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def test_options(meson, source):
    """A configuration (not a build) of the source tree with the switches."""
    build = tempfile.mkdtemp(prefix="bp-opts-")
    try:
        run([meson, "setup", build, source, "-Dtests=false", "-Ddocs=false", "-De2e=false",
             "-Dsystemdsystemunitdir=/opt/bp-units"])
        installed = json.loads(run([meson, "introspect", build, "--installed"]).stdout).values()
        targets = json.loads(run([meson, "introspect", build, "--targets"]).stdout)
        tests = json.loads(run([meson, "introspect", build, "--tests"]).stdout)
        check(not tests, "-Dtests=false still registers tests: %r" % [t["name"] for t in tests][:5])
        check(not any("/tests/" in t.get("defined_in", "") for t in targets),
              "-Dtests=false still builds test programs")
        log("-Dtests=false: no tests, no test programs")
        check(not any("/man/" in p for p in installed), "-Ddocs=false still installs man pages")
        log("-Ddocs=false: no man pages")
        check("/opt/bp-units/ble-peripheral.service" in installed,
              "-Dsystemdsystemunitdir=/opt/bp-units: the unit goes elsewhere: %r"
              % [p for p in installed if p.endswith(".service")])
        log("-Dsystemdsystemunitdir: the unit goes there")
    finally:
        shutil.rmtree(build, ignore_errors=True)


def main():
    meson, build, mode = sys.argv[1:4]
    source = os.environ.get("BP_SOURCE_ROOT") or os.path.dirname(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))
    destdir = tempfile.mkdtemp(prefix="bp-destdir-")
    try:
        inst = Install(meson, build, destdir)
        if mode == "files":
            test_files(inst, source)
        elif mode == "unit":
            test_unit(inst)
        elif mode == "options":
            test_options(meson, source)
        else:
            raise Failure("unknown mode %r" % mode)
    except (Failure, subprocess.TimeoutExpired) as e:
        print("FAIL: %s" % e, flush=True)
        return 1
    finally:
        shutil.rmtree(destdir, ignore_errors=True)
    log("ok")
    return 0


sys.exit(main())
