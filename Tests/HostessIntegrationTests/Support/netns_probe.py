#!/usr/bin/env python3
"""Small, bounded UDP probes for NamespaceLabTests, run inside a test's own network namespaces.

Standard library only. Every mode ends within its timeout and prints one JSON line on stdout:

  recv FAMILY GROUP PORT TIMEOUT [IFNAME]   join GROUP (4: IPv4, 6: IPv6 on IFNAME), print {"ready": true},
                                            wait for one datagram, then print {"data":..., "from":...}
                                            (exit 2 and {"timeout": true} when none came)
  send FAMILY GROUP PORT MESSAGE COUNT [IFNAME]
                                            send MESSAGE COUNT times (100 ms apart) with TTL / hop limit 1
  echo PORT TIMEOUT MAX                     answer up to MAX datagrams on 0.0.0.0:PORT with their bytes,
                                            print {"ready": true} first; stops at TIMEOUT seconds
  probe PORT TIMEOUT HOST...                send a datagram to each HOST:PORT (3 tries, TIMEOUT s each) and
                                            print {"reached": [...], "missed": [...]}
"""

import json
import socket
import struct
import sys
import time


def say(obj):
    print(json.dumps(obj), flush=True)


def recv(family, group, port, timeout, ifname=None):
    if family == "4":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("", port))
        mreq = struct.pack("4s4s", socket.inet_aton(group), socket.inet_aton("0.0.0.0"))
        s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
    else:
        index = socket.if_nametoindex(ifname)
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("", port))
        mreq = socket.inet_pton(socket.AF_INET6, group) + struct.pack("@I", index)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_JOIN_GROUP, mreq)
    say({"ready": True})
    s.settimeout(timeout)
    try:
        data, addr = s.recvfrom(2048)
    except socket.timeout:
        say({"timeout": True})
        return 2
    say({"data": data.decode("utf-8", "replace"), "from": addr[0]})
    return 0


def send(family, group, port, message, count, ifname=None):
    if family == "4":
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, 1)
        destination = (group, port)
    else:
        index = socket.if_nametoindex(ifname)
        s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, 1)
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_IF, index)
        destination = (group, port, 0, index)
    for _ in range(min(count, 50)):
        s.sendto(message.encode(), destination)
        time.sleep(0.1)
    say({"sent": count})
    return 0


def echo(port, timeout, limit):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    say({"ready": True})
    deadline = time.monotonic() + timeout
    answered = 0
    while answered < limit:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        s.settimeout(left)
        try:
            data, addr = s.recvfrom(2048)
        except socket.timeout:
            break
        s.sendto(data, addr)
        answered += 1
    say({"answered": answered})
    return 0


def probe(port, timeout, hosts):
    reached, missed = [], []
    for host in hosts:
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
        s.settimeout(timeout)
        token = ("probe-%s" % host).encode()
        ok = False
        for _ in range(3):
            try:
                s.sendto(token, (host, port))
                data, _ = s.recvfrom(2048)
                if data == token:
                    ok = True
                    break
            except OSError:
                # A timeout, or ICMP port unreachable surfacing as ECONNREFUSED: try again (the echo may be late).
                time.sleep(0.1)
        s.close()
        (reached if ok else missed).append(host)
    say({"reached": reached, "missed": missed})
    return 0 if not missed else 1


def main(argv):
    mode = argv[1] if len(argv) > 1 else ""
    if mode == "recv":
        return recv(argv[2], argv[3], int(argv[4]), float(argv[5]), argv[6] if len(argv) > 6 else None)
    if mode == "send":
        return send(argv[2], argv[3], int(argv[4]), argv[5], int(argv[6]), argv[7] if len(argv) > 7 else None)
    if mode == "echo":
        return echo(int(argv[2]), float(argv[3]), int(argv[4]))
    if mode == "probe":
        return probe(int(argv[2]), float(argv[3]), argv[4:])
    print(__doc__, file=sys.stderr)
    return 64


if __name__ == "__main__":
    sys.exit(main(sys.argv))
