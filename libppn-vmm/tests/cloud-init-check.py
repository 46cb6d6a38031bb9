#!/usr/bin/python3
"""Manual check, not in the suite: cloud-init's own NoCloud datasource reads
a seed written by libppn-vmm.

    cloud-init-check.py SEED.IMG

Needs cloud-init's Python package (the Debian package need not be installed:
`apt-get download cloud-init && dpkg -x cloud-init_*.deb root` and
PYTHONPATH=root/usr/lib/python3/dist-packages), mtools, and root for a
read-only loop device.  The seed is attached to a loop device so that
cloud-init finds it the way it does in a guest (blkid LABEL=cidata,
TYPE=vfat); only the mount is replaced by mtools, for hosts whose kernel has
no vfat.  Prints what cloud-init took from it; exit 1 if it found nothing.
"""
import os
import subprocess
import sys
import tempfile

import yaml
from cloudinit import distros, helpers, util
from cloudinit.sources.DataSourceNoCloud import DataSourceNoCloud

img = sys.argv[1]
env = dict(os.environ, MTOOLS_SKIP_CHECK="1")
loop = subprocess.run(["losetup", "-f", "--show", "-r", img], capture_output=True, text=True,
                      check=True).stdout.strip()
try:
    def mount_cb(dev, cb, data=None, **kw):
        assert dev == loop, dev
        d = tempfile.mkdtemp()
        names = subprocess.run(["mdir", "-b", "-i", img, "::"], env=env, capture_output=True, text=True,
                               check=True).stdout.split()
        for n in names:
            n = n.split("/")[-1]
            subprocess.run(["mcopy", "-n", "-i", img, "::" + n, os.path.join(d, n)], env=env, check=True)
        return cb(d, data)
    util.mount_cb = mount_cb
    tmp = tempfile.mkdtemp()
    paths = helpers.Paths({"cloud_dir": tmp, "run_dir": tmp + "/run", "templates_dir": tmp})
    ds = DataSourceNoCloud({"datasource": {"NoCloud": {}}}, distros.fetch("ubuntu")("ubuntu", {}, paths), paths)
    print("devices labelled cidata:", ds._get_devices("cidata"))
    if not ds._get_data():
        print("cloud-init found no seed")
        sys.exit(1)
    print("instance-id:", ds.get_instance_id())
    print("hostname:", ds.get_hostname().hostname)
    cfg = yaml.safe_load(ds.get_userdata_raw())
    print("users:", [u["name"] for u in (cfg or {}).get("users", [])])
    print("network-config:", ds.network_config)
finally:
    subprocess.run(["losetup", "-d", loop], check=True)
