#!/usr/bin/env python3
"""`meson install` puts every module of python/ble_peripheral into the
site-packages directory of the configured python3, under ble_peripheral/
(meson introspect --installed: nothing is written).

  test_install.py BUILD_DIR SITE_PACKAGES"""

import glob
import json
import os
import subprocess
import sys
import unittest

BUILD, SITE = sys.argv[1], sys.argv[2]
SOURCE_ROOT = os.environ.get("BP_SOURCE_ROOT") or os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Install(unittest.TestCase):
    def test_package_goes_to_site_packages(self):
        meson = os.environ.get("MESON") or "meson"
        out = subprocess.run([meson, "introspect", BUILD, "--installed"], stdout=subprocess.PIPE, text=True,
                             check=True, timeout=60).stdout
        installed = {os.path.realpath(k): v for k, v in json.loads(out).items()}
        modules = sorted(glob.glob(os.path.join(SOURCE_ROOT, "python", "ble_peripheral", "*.py")))
        self.assertGreaterEqual(len(modules), 5)
        for m in modules:
            self.assertIn(os.path.realpath(m), installed, "%s is not installed" % m)
            self.assertEqual(installed[os.path.realpath(m)],
                             os.path.join(SITE, "ble_peripheral", os.path.basename(m)))
        self.assertIn("-packages", SITE)


if __name__ == "__main__":
    unittest.main(argv=sys.argv[:1], verbosity=2)
