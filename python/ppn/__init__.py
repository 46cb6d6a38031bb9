"""ppn: Python bindings over the C ABI of libppn (ctypes, no compiler needed).

Ledger   - open, verify, roots, inclusion and consistency proofs (libppn-ledger)
code     - generate and parse the pairing short codes (libppn-crypto)
Heartbeat, sign_heartbeat, open_heartbeat - signed fleet heartbeats (libppn-fleet)
Fleet    - the controller's view: members, heartbeats in, advisory placement

Sizes come from the libraries' constant functions and struct layouts from
ppn_fleet_layout(), never copied by hand.  Errors are OSError with the
library's errno.  The libraries are found through $PPN_LIBDIR, else the
dynamic linker's search path (libppn-<name>.so.1).
"""
import ctypes
import json
import os

__all__ = ["Ledger", "code_generate", "code_parse", "CodeError", "Heartbeat", "sign_heartbeat",
           "open_heartbeat", "keypair_from_seed", "Fleet", "Placement"]

_c = ctypes
_u8p = _c.POINTER(_c.c_uint8)


def _load(name):
    d = os.environ.get("PPN_LIBDIR")
    return _c.CDLL(os.path.join(d, f"libppn-{name}.so.1") if d else f"libppn-{name}.so.1")


_ledger = _load("ledger")
_crypto = _load("crypto")
_fleet = _load("fleet")


def _check(r, what):
    if r < 0:
        raise OSError(-r, f"{what}: {os.strerror(-r)}")
    return r


def _fn(lib, name, restype, *argtypes):
    f = getattr(lib, name)
    f.restype = restype
    f.argtypes = list(argtypes)
    return f


def _constant(lib, name, cid, what):
    """One value of ppn_<name>_constant(id): the ids are fixed numbers (doc/API.md)."""
    f = _fn(lib, f"ppn_{name}_constant", _c.c_int64, _c.c_uint32)
    return _check(f(cid), f"ppn_{name}_constant({what})")


# ---- libppn-ledger ---------------------------------------------------------

HASH_BYTES = _constant(_ledger, "ledger", 3, "HASH_BYTES")
ENTRY_MAX = _constant(_ledger, "ledger", 5, "ENTRY_MAX")
PROOF_MAX = _constant(_ledger, "ledger", 6, "PROOF_MAX")

_l_open = _fn(_ledger, "ppn_ledger_open", _c.c_int, _c.c_char_p, _c.c_uint32, _c.POINTER(_c.c_void_p))
_l_free = _fn(_ledger, "ppn_ledger_free", None, _c.c_void_p)
_l_size = _fn(_ledger, "ppn_ledger_size", _c.c_uint64, _c.c_void_p)
_l_origin = _fn(_ledger, "ppn_ledger_origin", _c.c_char_p, _c.c_void_p)
_l_root = _fn(_ledger, "ppn_ledger_root", _c.c_int, _c.c_void_p, _c.c_uint64, _u8p)
_l_verify = _fn(_ledger, "ppn_ledger_verify", _c.c_int, _c.c_void_p, _c.c_uint, _c.c_void_p)
_l_raw = _fn(_ledger, "ppn_ledger_get_raw", _c.c_int, _c.c_void_p, _c.c_uint64, _u8p, _c.c_size_t,
             _c.POINTER(_c.c_size_t))
_l_leaf = _fn(_ledger, "ppn_ledger_leaf_hash", _c.c_int, _c.c_void_p, _c.c_uint64, _u8p)
_l_incl = _fn(_ledger, "ppn_ledger_prove_inclusion", _c.c_int, _c.c_void_p, _c.c_uint64, _c.c_uint64, _u8p,
              _c.c_size_t, _c.POINTER(_c.c_size_t))
_l_cons = _fn(_ledger, "ppn_ledger_prove_consistency", _c.c_int, _c.c_void_p, _c.c_uint64, _c.c_uint64, _u8p,
              _c.c_size_t, _c.POINTER(_c.c_size_t))
_m_leaf = _fn(_ledger, "ppn_ledger_merkle_leaf_hash", None, _c.c_char_p, _c.c_size_t, _u8p)
_m_vincl = _fn(_ledger, "ppn_ledger_merkle_verify_inclusion", _c.c_int, _c.c_char_p, _c.c_uint64, _c.c_uint64,
               _c.c_char_p, _c.c_size_t, _c.c_char_p)
_m_vcons = _fn(_ledger, "ppn_ledger_merkle_verify_consistency", _c.c_int, _c.c_uint64, _c.c_uint64, _c.c_char_p,
               _c.c_char_p, _c.c_char_p, _c.c_size_t)

_libc = _c.CDLL(None)
_free = _fn(_libc, "free", None, _c.c_void_p)
_FORMAT_JSON = 1
# Room for a struct ppn_ledger_entry, which is only passed from ppn_ledger_get to
# ppn_ledger_entry_describe, never read here (1664 bytes in ABI 1, a frozen record).
_ENTRY_STRUCT_SIZE = 4096
_l_get = _fn(_ledger, "ppn_ledger_get", _c.c_int, _c.c_void_p, _c.c_uint64, _c.c_void_p)
_l_describe = _fn(_ledger, "ppn_ledger_describe", _c.c_int, _c.c_void_p, _c.POINTER(_c.c_void_p))
_l_edesc = _fn(_ledger, "ppn_ledger_entry_describe", _c.c_int, _c.c_void_p, _c.POINTER(_c.c_void_p))
_l_get_json = _fn(_ledger, "ppn_ledger_get_json", _c.c_int, _c.c_void_p, _c.c_uint64, _c.POINTER(_c.c_void_p))
_l_view_name = _fn(_ledger, "ppn_ledger_view_from_name", _c.c_int, _c.c_char_p, _c.POINTER(_c.c_uint32))
_l_view = _fn(_ledger, "ppn_ledger_view_format", _c.c_int, _c.c_void_p, _c.c_uint32, _c.c_uint32,
              _c.POINTER(_c.c_void_p))


def _format(what, fn, *args):
    """fn(*args, &text): the malloc'd string a libppn-ledger formatter returns, as str (freed)."""
    ptr = _c.c_void_p()
    _check(fn(*args, _c.byref(ptr)), what)
    try:
        return _c.string_at(ptr.value).decode()
    finally:
        _free(ptr)


def _hash_buf():
    return (_c.c_uint8 * HASH_BYTES)()


class Ledger:
    """A ledger replica opened read-only (the writer lock is the tools' business)."""

    def __init__(self, path):
        self._h = _c.c_void_p()
        _check(_l_open(os.fsencode(path), 0, _c.byref(self._h)), f"open {path}")

    def close(self):
        if self._h:
            _l_free(self._h)
            self._h = _c.c_void_p()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def __del__(self):
        self.close()

    def __len__(self):
        return _l_size(self._h)

    @property
    def origin(self):
        return _l_origin(self._h).decode()

    def root(self, size=None):
        out = _hash_buf()
        _check(_l_root(self._h, len(self) if size is None else size, out), "root")
        return bytes(out)

    def verify(self, threads=0):
        """Checks every record, signature, tree hash and the checkpoint."""
        _check(_l_verify(self._h, threads, None), "verify")

    def entry_bytes(self, index):
        buf = (_c.c_uint8 * ENTRY_MAX)()
        n = _c.c_size_t()
        _check(_l_raw(self._h, index, buf, ENTRY_MAX, _c.byref(n)), f"entry {index}")
        return bytes(buf[: n.value])

    def leaf_hash(self, index):
        out = _hash_buf()
        _check(_l_leaf(self._h, index, out), f"leaf {index}")
        return bytes(out)

    def _proof(self, fn, a, b, what):
        buf = (_c.c_uint8 * (HASH_BYTES * PROOF_MAX))()
        n = _c.c_size_t()
        _check(fn(self._h, a, b, buf, PROOF_MAX, _c.byref(n)), what)
        raw = bytes(buf[: n.value * HASH_BYTES])
        return [raw[i:i + HASH_BYTES] for i in range(0, len(raw), HASH_BYTES)]

    def prove_inclusion(self, index, size=None):
        return self._proof(_l_incl, index, len(self) if size is None else size, "inclusion proof")

    def prove_consistency(self, old_size, new_size=None):
        return self._proof(_l_cons, old_size, len(self) if new_size is None else new_size, "consistency proof")

    # What ppn-ledger prints, from the library (PPN_LEDGER_1.4): the same bytes as the tool.
    def describe(self):
        """The summary `ppn-ledger show` prints before its entries."""
        return _format("describe", _l_describe, self._h)

    def entry_text(self, index):
        """Entry 'index' as `ppn-ledger show DIR INDEX` prints it."""
        return "".join(self.show(index, index + 1))

    def show(self, start=0, stop=None):
        """The entries' lines as `ppn-ledger show` prints them, one string per entry."""
        out = []
        for i in range(start, len(self) if stop is None else stop):
            ent = (_c.c_uint8 * _ENTRY_STRUCT_SIZE)()
            _check(_l_get(self._h, i, ent), f"entry {i}")
            out.append(_format(f"entry {i}", _l_edesc, ent))
        return out

    def entry_json(self, index):
        """Entry 'index' as a dict, with its "leaf_hash" (`ppn-ledger show DIR INDEX --json`)."""
        return json.loads(_format(f"entry {index}", _l_get_json, self._h, index))

    def view(self, name):
        """The current members, grants or assignments as a list of dicts (`show --view NAME --json`)."""
        v = _c.c_uint32()
        _check(_l_view_name(name.encode(), _c.byref(v)), f"view {name!r}")
        return json.loads(_format(f"view {name}", _l_view, self._h, v.value, _FORMAT_JSON))


def leaf_hash(data):
    out = _hash_buf()
    _m_leaf(data, len(data), out)
    return bytes(out)


def verify_inclusion(leaf, index, size, proof, root):
    return _m_vincl(leaf, index, size, b"".join(proof), len(proof), root) == 0


def verify_consistency(old_size, new_size, old_root, new_root, proof):
    return _m_vcons(old_size, new_size, old_root, new_root, b"".join(proof), len(proof)) == 0


# ---- libppn-crypto: short codes --------------------------------------------

_CODE_STRING_SIZE = _constant(_crypto, "crypto", 10, "CODE_STRING_SIZE")
_CODE_CANONICAL_SIZE = _constant(_crypto, "crypto", 11, "CODE_CANONICAL_SIZE")
CODE_CHECK = 1
_code_gen = _fn(_crypto, "ppn_crypto_code_generate", _c.c_int, _c.c_uint, _c.c_uint32, _c.c_char_p, _c.c_size_t)
_code_parse = _fn(_crypto, "ppn_crypto_code_parse", _c.c_int, _c.c_char_p, _c.c_size_t, _c.c_uint32, _c.c_char_p,
                  _c.POINTER(_c.c_size_t))


class CodeError(ValueError):
    """A typed code that does not parse; .position is the byte offset of the problem."""

    def __init__(self, errno_, position, text):
        super().__init__(f"{os.strerror(errno_)} at position {position} of {text!r}")
        self.errno = errno_
        self.position = position


def code_generate(symbols=8, check=True):
    buf = _c.create_string_buffer(_CODE_STRING_SIZE)
    _check(_code_gen(symbols, CODE_CHECK if check else 0, buf, len(buf)), "code")
    return buf.value.decode()


def code_parse(text, check=True):
    """The canonical code (symbols only) of what an operator typed."""
    raw = text.encode()
    out = _c.create_string_buffer(_CODE_CANONICAL_SIZE)
    pos = _c.c_size_t()
    r = _code_parse(raw, len(raw), CODE_CHECK if check else 0, out, _c.byref(pos))
    if r < 0:
        if -r == 22:  # EINVAL: a caller's mistake, not the operator's
            _check(r, "code_parse")
        raise CodeError(-r, pos.value, text)
    return out.value.decode()


# ---- libppn-fleet ----------------------------------------------------------

_layout = _fn(_fleet, "ppn_fleet_layout", _c.c_int, _c.c_char_p, _c.c_char_p, _c.POINTER(_c.c_size_t),
              _c.POINTER(_c.c_size_t))


def _struct(cname, fields):
    """A ctypes Structure of 'cname' laid out as the library says: 'fields' names
    each field the binding uses and its ctypes type; offsets and the total size
    come from ppn_fleet_layout(), padding fills the rest."""
    off, size = _c.c_size_t(), _c.c_size_t()
    _check(_layout(cname.encode(), None, None, _c.byref(size)), cname)
    total = size.value
    placed = []
    for name, ctype in fields:
        _check(_layout(cname.encode(), name.encode(), _c.byref(off), _c.byref(size)), f"{cname}.{name}")
        if _c.sizeof(ctype) != size.value:
            raise TypeError(f"{cname}.{name}: {size.value} bytes in the library, {_c.sizeof(ctype)} here")
        placed.append((off.value, name, ctype))
    placed.sort()
    out, at = [], 0
    for o, name, ctype in placed:
        if o > at:
            out.append((f"_pad{at}", _c.c_uint8 * (o - at)))
        out.append((name, ctype))
        at = o + _c.sizeof(ctype)
    if total > at:
        out.append((f"_pad{at}", _c.c_uint8 * (total - at)))
    cls = type(cname, (_c.Structure,), {"_fields_": out})
    if _c.sizeof(cls) != total:
        raise TypeError(f"{cname}: {total} bytes in the library, {_c.sizeof(cls)} here")
    return cls


_fleet_name_max = _constant(_fleet, "fleet", 4, "NAME_MAX")
_fleet_max_vms = _constant(_fleet, "fleet", 7, "MAX_VMS")
_fleet_msg_max = _constant(_fleet, "fleet", 8, "MESSAGE_MAX")
KEY = _c.c_uint8 * 32

VM = _struct("ppn_fleet_vm", [("name", _c.c_char * (_fleet_name_max + 1)), ("mem_bytes", _c.c_uint64)])
Heartbeat = _struct("ppn_fleet_heartbeat", [
    ("version", _c.c_uint32), ("node_key", KEY), ("node_name", _c.c_char * (_fleet_name_max + 1)),
    ("seq", _c.c_uint64), ("ram_total_bytes", _c.c_uint64), ("ram_available_bytes", _c.c_uint64),
    ("cpu_count", _c.c_uint32), ("load_milli", _c.c_uint32), ("ledger_size", _c.c_uint64),
    ("n_vms", _c.c_uint32), ("vms", VM * _fleet_max_vms)])
PlaceQuery = _struct("ppn_fleet_place_query", [
    ("mem_bytes", _c.c_uint64), ("vcpus", _c.c_uint32), ("kind", _c.c_uint32), ("has_node", _c.c_bool),
    ("node_key", KEY)])
_off, _sz = _c.c_size_t(), _c.c_size_t()
_check(_layout(b"ppn_fleet_placement", b"reasons", _c.byref(_off), _c.byref(_sz)), "layout")
_reasons = _sz.value // _c.sizeof(_c.c_uint32)  # one count per reason
_PlacementC = _struct("ppn_fleet_placement", [
    ("n_nodes", _c.c_uint32), ("n_fit", _c.c_uint32), ("reasons", _c.c_uint32 * _reasons),
    ("placed", _c.c_bool), ("node_index", _c.c_size_t), ("node_key", KEY), ("ram_left_bytes", _c.c_uint64)])

_kp = _fn(_fleet, "ppn_fleet_keypair_from_seed", _c.c_int, _c.c_char_p, _u8p, _u8p)
_hb_sign = _fn(_fleet, "ppn_fleet_heartbeat_sign", _c.c_int, _c.POINTER(Heartbeat), _c.c_char_p, _u8p,
               _c.c_size_t)
_hb_open = _fn(_fleet, "ppn_fleet_heartbeat_open", _c.c_int, _c.c_char_p, _c.c_size_t, _c.POINTER(Heartbeat))
_f_new = _fn(_fleet, "ppn_fleet_new", _c.c_int, _c.c_uint64, _c.POINTER(_c.c_void_p))
_f_free = _fn(_fleet, "ppn_fleet_free", None, _c.c_void_p)
_f_members = _fn(_fleet, "ppn_fleet_set_members", _c.c_int, _c.c_void_p, _c.c_char_p, _c.c_size_t)
_f_ingest = _fn(_fleet, "ppn_fleet_ingest", _c.c_int, _c.c_void_p, _c.c_char_p, _c.c_size_t, _c.c_void_p,
                _c.c_uint32, _c.c_uint64)
_f_place = _fn(_fleet, "ppn_fleet_place", _c.c_int, _c.c_void_p, _c.POINTER(PlaceQuery), _c.c_uint64, _c.c_void_p,
               _c.c_void_p, _c.POINTER(_PlacementC))
_f_explain = _fn(_fleet, "ppn_fleet_placement_explain", _c.c_int, _c.POINTER(_PlacementC), _c.c_char_p,
                 _c.c_size_t)


def keypair_from_seed(seed):
    """(public key, secret key) of a node from its 32-byte seed.  Wipe the secret key."""
    pk, sk = (_c.c_uint8 * 32)(), (_c.c_uint8 * 64)()
    _check(_kp(bytes(seed), pk, sk), "keypair")
    return bytes(pk), bytes(sk)


def sign_heartbeat(hb, sk):
    buf = (_c.c_uint8 * _fleet_msg_max)()
    n = _check(_hb_sign(_c.byref(hb), bytes(sk), buf, len(buf)), "sign heartbeat")
    return bytes(buf[:n])


def open_heartbeat(data):
    """Decodes a heartbeat and checks its signature (OSError EKEYREJECTED if forged)."""
    hb = Heartbeat()
    _check(_hb_open(bytes(data), len(data), _c.byref(hb)), "open heartbeat")
    return hb


class Fleet:
    """The controller's view: members from the ledger, heartbeats in, placement out."""

    def __init__(self, now_ms):
        self._h = _c.c_void_p()
        _check(_f_new(now_ms, _c.byref(self._h)), "fleet")

    def close(self):
        if self._h:
            _f_free(self._h)
            self._h = _c.c_void_p()

    def __del__(self):
        self.close()

    def set_members(self, keys):
        keys = [bytes(k) for k in keys]
        return _check(_f_members(self._h, b"".join(keys), len(keys)), "members")

    def ingest(self, datagram, now_ms):
        _check(_f_ingest(self._h, bytes(datagram), len(datagram), None, 0, now_ms), "ingest")

    def place(self, mem_bytes, vcpus=1, now_ms=0, totebox_on=None):
        q = PlaceQuery(mem_bytes=mem_bytes, vcpus=vcpus, kind=1 if totebox_on else 0)
        if totebox_on:
            q.has_node = True
            q.node_key[:] = list(totebox_on)
        p = _PlacementC()
        _check(_f_place(self._h, _c.byref(q), now_ms, None, None, _c.byref(p)), "place")
        text = _c.create_string_buffer(256)
        _f_explain(_c.byref(p), text, len(text))
        return Placement(p.placed, bytes(p.node_key) if p.placed else None, p.ram_left_bytes, p.n_fit,
                          text.value.decode())


class Placement(tuple):
    """(placed, node_key, ram_left_bytes, n_fit, explanation)."""

    def __new__(cls, placed, node_key, ram_left, n_fit, text):
        return super().__new__(cls, (placed, node_key, ram_left, n_fit, text))

    placed = property(lambda s: s[0])
    node_key = property(lambda s: s[1])
    ram_left_bytes = property(lambda s: s[2])
    n_fit = property(lambda s: s[3])
    explanation = property(lambda s: s[4])

