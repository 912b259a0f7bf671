#!/usr/bin/env python3
"""Crafts, captures and floods Hostess announcement datagrams for the mesh tests (standard library only).

Every send goes to the announcement group 239.255.72.83 with TTL 1 from inside the test's own network
namespace; every receive is bounded by a timeout.

  mesh_packets.py capture PORT SECONDS        print the first announcement heard, as hex
  mesh_packets.py send PORT HEX               send these bytes
  mesh_packets.py craft PORT KIND KEYID SECRET  send one announcement: KIND is unsigned, forged, stale, good
  mesh_packets.py flood PORT COUNT SEED       send COUNT random and truncated datagrams, then one of 64 KiB
"""
import hashlib
import hmac
import json
import random
import socket
import struct
import sys
import time
import uuid

GROUP = "239.255.72.83"


def sender():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
    return s


def announcement(key_id, timestamp_ms, hostess_id):
    body = {
        "type": "HOSTESS_ANNOUNCEMENT", "version": 1, "timestamp": timestamp_ms, "fqdn": "crafted.local",
        "hostessId": hostess_id, "endpoint": "http://10.0.0.1:8080", "serverCount": 0, "ttl": 60,
        "sequence": 1, "digest": "0" * 64, "connectionMethods": [], "summaryTruncated": True,
    }
    if key_id is not None:
        body["keyId"] = key_id
    return json.dumps(body, separators=(",", ":")).encode()


def signed(payload, secret):
    return payload + b"\n" + hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest().encode()


def main():
    mode, port = sys.argv[1], int(sys.argv[2])
    if mode == "capture":
        r = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        r.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        r.bind(("0.0.0.0", port))
        r.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, struct.pack("4s4s", socket.inet_aton(GROUP), socket.inet_aton("0.0.0.0")))
        r.settimeout(float(sys.argv[3]))
        data, _ = r.recvfrom(65536)
        print(data.hex())
        return
    s = sender()
    target = (GROUP, port)
    if mode == "send":
        s.sendto(bytes.fromhex(sys.argv[3]), target)
    elif mode == "craft":
        kind, key_id, secret = sys.argv[3], sys.argv[4], sys.argv[5]
        now = int(time.time() * 1000)
        hostess_id = str(uuid.uuid4())
        if kind == "unsigned":
            packet = announcement(None, now, hostess_id)
        elif kind == "forged":
            packet = signed(announcement(key_id, now, hostess_id), secret + "-not-the-secret")
        elif kind == "stale":
            packet = signed(announcement(key_id, now - 400_000, hostess_id), secret)
        else:
            packet = signed(announcement(key_id, now, hostess_id), secret)
        s.sendto(packet, target)
        print(hostess_id)
    elif mode == "flood":
        count, rng = int(sys.argv[3]), random.Random(int(sys.argv[4]))
        base = signed(announcement("k", int(time.time() * 1000), str(uuid.uuid4())), "0123456789abcdef")
        for index in range(count):
            if index % 3 == 0:
                packet = base[: rng.randrange(len(base))]
            elif index % 3 == 1:
                packet = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 1400)))
            else:
                mutated = bytearray(base)
                for _ in range(rng.randrange(1, 8)):
                    mutated[rng.randrange(len(mutated))] = rng.randrange(256)
                packet = bytes(mutated)
            s.sendto(packet, target)
            if index % 200 == 199:
                time.sleep(0.01)  # let the receiver keep up: the point is validation, not the socket buffer
        s.sendto(b"{" * 65000, target)
    else:
        sys.exit("unknown mode " + mode)


if __name__ == "__main__":
    main()
