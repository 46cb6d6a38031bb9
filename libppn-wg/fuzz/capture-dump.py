#!/usr/bin/env python3
"""Captures the raw bytes of a WG_CMD_GET_DEVICE dump (every recv() buffer,
concatenated) for the fuzz seed corpus:  capture-dump.py IFNAME OUTFILE
Run as root where the wireguard module is loaded (tests/microvm)."""
import socket, struct, sys

NETLINK_GENERIC = 16
GENL_ID_CTRL = 0x10
CTRL_CMD_GETFAMILY = 3
CTRL_ATTR_FAMILY_ID = 1
CTRL_ATTR_FAMILY_NAME = 2
NLM_F_REQUEST, NLM_F_ACK, NLM_F_DUMP = 1, 4, 0x300
NLMSG_ERROR, NLMSG_DONE = 2, 3


def attr(t, payload):
    l = 4 + len(payload)
    return struct.pack("HH", l, t) + payload + b"\0" * ((4 - l % 4) % 4)


def msg(t, flags, seq, cmd, attrs):
    body = struct.pack("BBH", cmd, 1, 0) + attrs
    return struct.pack("IHHII", 16 + len(body), t, flags, seq, 0) + body


s = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, NETLINK_GENERIC)
s.bind((0, 0))
s.send(msg(GENL_ID_CTRL, NLM_F_REQUEST, 1, CTRL_CMD_GETFAMILY, attr(CTRL_ATTR_FAMILY_NAME, b"wireguard\0")))
data = s.recv(65536)
fam = None
off = 20
while off + 4 <= len(data):
    l, t = struct.unpack_from("HH", data, off)
    if t == CTRL_ATTR_FAMILY_ID:
        fam = struct.unpack_from("H", data, off + 4)[0]
    off += (l + 3) & ~3
s.send(msg(fam, NLM_F_REQUEST | NLM_F_ACK | NLM_F_DUMP, 2, 0, attr(2, sys.argv[1].encode() + b"\0")))
out = b""
done = False
while not done:
    buf = s.recv(65536)
    out += buf
    off = 0
    while off + 16 <= len(buf):
        l, t = struct.unpack_from("IH", buf, off)
        if t in (NLMSG_DONE, NLMSG_ERROR):
            done = True
        off += (l + 3) & ~3
open(sys.argv[2], "wb").write(out)
print(sys.argv[2], len(out), "bytes")
