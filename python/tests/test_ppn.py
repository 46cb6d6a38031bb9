"""The Python package against the real libraries and a real ledger on disk.

Run by meson (test 'python'): PPN_LIBDIR is the build directory, PPN_LEDGER_TOOL
the ppn-ledger binary that writes the ledger this test reads."""
import base64
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))
import ppn  # noqa: E402

TOOL = os.environ.get("PPN_LEDGER_TOOL", "ppn-ledger")


def rfc9162_root(leaves):
    """An independent Merkle tree hash (RFC 9162 §2.1.1), not the library's."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + rfc9162_root(leaves[:k]) + rfc9162_root(leaves[k:])).digest()


class ConstantTest(unittest.TestCase):
    def test_one_function_per_library(self):
        self.assertEqual((ppn.HASH_BYTES, ppn.ENTRY_MAX, ppn.PROOF_MAX), (32, 4096, 128))
        self.assertEqual((ppn._fleet_name_max, ppn._fleet_max_vms, ppn._fleet_msg_max), (63, 64, 8192))
        self.assertEqual(ppn._CODE_CANONICAL_SIZE, 11)
        with self.assertRaises(OSError) as e:
            ppn._constant(ppn._ledger, "ledger", 999, "unknown")
        self.assertEqual(e.exception.errno, 22)


class LedgerTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        d = cls.tmp.name
        key = os.path.join(d, "admin.key")
        with open(key, "w") as f:
            f.write(base64.b64encode(os.urandom(32)).decode() + "\n")
        os.chmod(key, 0o600)
        cls.dir = os.path.join(d, "L")
        subprocess.run([TOOL, "init", cls.dir, "--origin", "py.example/ledger", "--mesh", "10.8.0.0/24",
                        "--key", key], check=True, capture_output=True)
        lines = []
        for i in range(2, 12):
            nk = base64.b64encode(os.urandom(32)).decode()
            with open(os.path.join(d, f"n{i}.key"), "w") as f:
                f.write(nk + "\n")
            os.chmod(os.path.join(d, f"n{i}.key"), 0o600)  # the tools refuse a key others can read
            pub = subprocess.run([TOOL, "pubkey", os.path.join(d, f"n{i}.key")], check=True, capture_output=True,
                                 text=True).stdout.strip()
            wg = base64.b64encode(os.urandom(32)).decode()
            lines.append(f'{{"type":"node-join","subject":"{pub}","wg_key":"{wg}","mesh":"10.8.0.{i}",'
                         f'"endpoint":"","hostname":"node-{i}"}}')
        subprocess.run([TOOL, "append", cls.dir, "--key", key, "-"], input="\n".join(lines) + "\n", text=True,
                       check=True, capture_output=True)

    @classmethod
    def tearDownClass(cls):
        cls.tmp.cleanup()

    def test_open_verify_prove(self):
        with ppn.Ledger(self.dir) as lg:
            self.assertEqual(len(lg), 11)
            self.assertEqual(lg.origin, "py.example/ledger")
            lg.verify()
            leaves = [hashlib.sha256(b"\x00" + lg.entry_bytes(i)).digest() for i in range(len(lg))]
            self.assertEqual([lg.leaf_hash(i) for i in range(len(lg))], leaves)
            self.assertEqual(lg.root(), rfc9162_root(leaves))
            self.assertEqual(lg.root(5), rfc9162_root(leaves[:5]))
            for i in range(len(lg)):
                proof = lg.prove_inclusion(i)
                self.assertTrue(ppn.verify_inclusion(leaves[i], i, len(lg), proof, lg.root()))
                self.assertFalse(ppn.verify_inclusion(leaves[i], (i + 1) % len(lg), len(lg), proof, lg.root()))
            for old in range(1, len(lg)):
                proof = lg.prove_consistency(old)
                self.assertTrue(ppn.verify_consistency(old, len(lg), lg.root(old), lg.root(), proof))
            with self.assertRaises(OSError) as e:
                lg.prove_inclusion(11)
            self.assertEqual(e.exception.errno, 22)

    def test_prints_what_the_tool_prints(self):
        """The library's forms (PPN_LEDGER_1.4) are the tool's output, byte for byte."""
        show = subprocess.run([TOOL, "show", self.dir], check=True, capture_output=True, text=True).stdout
        with ppn.Ledger(self.dir) as lg:
            self.assertEqual(lg.describe() + "entries:\n" + "".join(lg.show()), show)
            self.assertEqual(lg.entry_text(3),
                             subprocess.run([TOOL, "show", self.dir, "3"], check=True, capture_output=True,
                                            text=True).stdout.split("entries:\n")[-1])
            one = subprocess.run([TOOL, "show", self.dir, "4", "--json"], check=True, capture_output=True,
                                 text=True).stdout
            self.assertEqual(lg.entry_json(4), json.loads(one))
            self.assertEqual(lg.entry_json(4)["leaf_hash"], lg.leaf_hash(4).hex())
            members = lg.view("members")
            self.assertEqual(len(members), 10)
            self.assertEqual(members, json.loads(subprocess.run([TOOL, "show", self.dir, "--view", "members", "--json"],
                                                                check=True, capture_output=True, text=True).stdout))
            with self.assertRaises(OSError) as e:
                lg.view("member")
            self.assertEqual(e.exception.errno, 22)
            with self.assertRaises(OSError) as e:
                lg.entry_json(11)
            self.assertEqual(e.exception.errno, 2)

    def test_missing_ledger(self):
        with self.assertRaises(OSError) as e:
            ppn.Ledger(os.path.join(self.tmp.name, "nope"))
        self.assertEqual(e.exception.errno, 2)

    def test_damaged_ledger_refused(self):
        d = os.path.join(self.tmp.name, "D")
        subprocess.run(["cp", "-a", self.dir, d], check=True)
        with open(os.path.join(d, "entries"), "r+b") as f:
            f.seek(300)
            b = f.read(1)
            f.seek(300)
            f.write(bytes([b[0] ^ 0xFF]))
        with self.assertRaises(OSError):
            with ppn.Ledger(d) as lg:
                lg.verify()


class CodeTest(unittest.TestCase):
    def test_round_trip_and_typos(self):
        code = ppn.code_generate(8)
        canonical = code.replace("-", "")[:-1]
        self.assertEqual(ppn.code_parse(code), canonical)
        self.assertEqual(ppn.code_parse(code.lower()), canonical)
        # one symbol changed: the check symbol catches it, at the check symbol's offset
        sym = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
        bad = ("1" if code[0] != "1" else "2") + code[1:]
        with self.assertRaises(ppn.CodeError) as e:
            ppn.code_parse(bad)
        self.assertEqual(e.exception.position, len(code) - 1)
        with self.assertRaises(ppn.CodeError) as e:
            ppn.code_parse("AB#D-EFGH")
        self.assertEqual(e.exception.position, 2)
        self.assertTrue(all(c in sym for c in canonical))


class FleetTest(unittest.TestCase):
    def node(self, seed_byte, name, avail_mib, seq):
        pk, sk = ppn.keypair_from_seed(bytes([seed_byte]) * 32)
        hb = ppn.Heartbeat(seq=seq, ram_total_bytes=8 << 30, ram_available_bytes=avail_mib << 20, cpu_count=4,
                           load_milli=250, ledger_size=11, n_vms=1)
        hb.node_key[:] = list(pk)
        hb.node_name = name.encode()
        hb.vms[0].name = b"vm-one"
        hb.vms[0].mem_bytes = 512 << 20
        return pk, sk, hb

    def test_heartbeat_sign_open(self):
        pk, sk, hb = self.node(7, "node-a", 3000, 1 << 32 | 5)
        wire = ppn.sign_heartbeat(hb, sk)
        back = ppn.open_heartbeat(wire)
        self.assertEqual(bytes(back.node_key), pk)
        self.assertEqual(back.node_name, b"node-a")
        self.assertEqual(back.seq, 1 << 32 | 5)
        self.assertEqual(back.ram_available_bytes, 3000 << 20)
        self.assertEqual((back.n_vms, back.vms[0].name, back.vms[0].mem_bytes), (1, b"vm-one", 512 << 20))
        forged = bytearray(wire)
        forged[-1] ^= 1
        with self.assertRaises(OSError) as e:
            ppn.open_heartbeat(bytes(forged))
        self.assertEqual(e.exception.errno, 129)  # EKEYREJECTED
        with self.assertRaises(OSError):
            ppn.open_heartbeat(b"\x83\x01")

    def test_placement(self):
        a = self.node(1, "node-a", 2000, 1)
        b = self.node(2, "node-b", 6000, 1)
        f = ppn.Fleet(0)
        self.assertEqual(f.set_members([a[0], b[0]]), 2)
        for pk, sk, hb in (a, b):
            f.ingest(ppn.sign_heartbeat(hb, sk), 1000)
        with self.assertRaises(OSError) as e:  # a replay
            f.ingest(ppn.sign_heartbeat(a[2], a[1]), 1100)
        self.assertEqual(e.exception.errno, 116)  # ESTALE
        p = f.place(1 << 30, vcpus=2, now_ms=2000)
        self.assertTrue(p.placed)
        self.assertEqual(p.node_key, b[0])  # the most RAM left
        self.assertEqual(p.n_fit, 2)
        p = f.place(64 << 30, now_ms=2000)
        self.assertFalse(p.placed)
        self.assertIn("insufficient memory", p.explanation)
        p = f.place(256 << 20, now_ms=2000, totebox_on=a[0])  # pinned: only its node
        self.assertTrue(p.placed)
        self.assertEqual(p.node_key, a[0])


if __name__ == "__main__":
    unittest.main(verbosity=2)
