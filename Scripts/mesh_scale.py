#!/usr/bin/env python3
"""Runs N Hostesses (release hostessd --announce) in network namespaces joined by one bridge, for each N of
a list, and prints each Hostess's CPU time and announcement traffic per minute, so that what one more peer
costs can be read off. Everything it makes lives in namespaces it creates and removes; nothing touches the
machine's own interfaces. Bounded: every run lasts --seconds, the whole script has a deadline.

  Scripts/mesh_scale.py HOSTESSD [--counts 5,10,20] [--seconds 20] [--interval 1]
"""
import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

IP = shutil.which("ip") or "/usr/sbin/ip"
TICKS = os.sysconf("SC_CLK_TCK")


def ip(*args, check=True):
    return subprocess.run([IP, *args], check=check, capture_output=True, text=True, timeout=10)


class Lab:
    def __init__(self, count):
        self.tag = "hsc-%06x" % random.randrange(1 << 24)
        self.subnet = random.randrange(256)
        self.bridge = self.tag + "-br"
        self.names = ["%s-%d" % (self.tag, i) for i in range(count)]
        ip("netns", "add", self.bridge)
        ip("-n", self.bridge, "link", "add", "br0", "type", "bridge", "stp_state", "0", "mcast_snooping", "0")
        ip("-n", self.bridge, "link", "set", "br0", "up")
        for index, name in enumerate(self.names):
            ip("netns", "add", name)
            ip("-n", self.bridge, "link", "add", "v%d" % index, "type", "veth", "peer", "name", "eth0", "netns", name)
            ip("-n", self.bridge, "link", "set", "v%d" % index, "master", "br0", "up")
            ip("-n", name, "link", "set", "lo", "up")
            ip("-n", name, "addr", "add", self.address(index) + "/16", "dev", "eth0")
            ip("-n", name, "link", "set", "eth0", "up", "multicast", "on")
            ip("-n", name, "route", "add", "224.0.0.0/4", "dev", "eth0")

    def address(self, index):
        return "10.%d.%d.%d" % (214, self.subnet, index + 1) if index < 250 else "10.%d.%d.%d" % (215, self.subnet, index - 249)

    def close(self):
        for name in self.names + [self.bridge]:
            for pid in ip("netns", "pids", name, check=False).stdout.split():
                try:
                    os.kill(int(pid), 9)
                except (ProcessLookupError, ValueError):
                    pass
            ip("netns", "del", name, check=False)


def cpu_ms(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1000 / TICKS


def metrics(lab, index):
    # Fetched from inside the Hostess's own namespace (no route to it from here).
    out = subprocess.run([IP, "netns", "exec", lab.names[index], "curl", "-s", "--noproxy", "*", "--max-time", "3",
                          "http://%s:8080/metrics" % lab.address(index)], capture_output=True, text=True, timeout=10).stdout
    values = {}
    for line in out.splitlines():
        if line.startswith("hostess_mesh_"):
            name, _, value = line.rpartition(" ")
            values[name] = float(value)
    return values


def run(hostessd, count, seconds, interval, scratch):
    lab = Lab(count)
    procs = []
    try:
        for index, name in enumerate(lab.names):
            sock = os.path.join(scratch, "h%d.sock" % index)
            log = open(os.path.join(scratch, "h%d.log" % index), "w")
            procs.append(subprocess.Popen(
                [IP, "netns", "exec", name, hostessd, "--socket", sock, "--no-shm", "--http", lab.address(index) + ":8080",
                 "--announce", "--announce-interval", str(interval)], stdout=subprocess.DEVNULL, stderr=log))
        deadline = time.time() + 15
        while time.time() < deadline and not all(os.path.exists(os.path.join(scratch, "h%d.sock" % i)) for i in range(count)):
            time.sleep(0.1)
        time.sleep(4)  # past the fast start
        start_cpu = [cpu_ms(p.pid) for p in procs]
        start_metrics = [metrics(lab, i) for i in range(count)]
        time.sleep(seconds)
        end_cpu = [cpu_ms(p.pid) for p in procs]
        end_metrics = [metrics(lab, i) for i in range(count)]
        per_minute = 60.0 / seconds
        cpu = [(e - s) * per_minute for s, e in zip(start_cpu, end_cpu)]
        received = [(e.get("hostess_mesh_packets_received_total", 0) - s.get("hostess_mesh_packets_received_total", 0)) * per_minute
                    for s, e in zip(start_metrics, end_metrics)]
        sent = [(e.get('hostess_mesh_announcements_sent_total{result="sent"}', 0) - s.get('hostess_mesh_announcements_sent_total{result="sent"}', 0)) * per_minute
                for s, e in zip(start_metrics, end_metrics)]
        live = [e.get('hostess_mesh_peers{state="live"}', 0) for e in end_metrics]
        return {"hostesses": count, "cpu_ms_per_min": sum(cpu) / count, "cpu_ms_per_min_max": max(cpu),
                "sent_per_min": sum(sent) / count, "received_per_min": sum(received) / count,
                "live_peers_min": min(live), "cpu_ms_per_peer_per_min": sum(cpu) / count / max(1, count - 1)}
    finally:
        for p in procs:
            p.kill()
            p.wait(timeout=5)
        lab.close()


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("hostessd")
    parser.add_argument("--counts", default="5,10,20")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--interval", type=float, default=1)
    args = parser.parse_args()
    if os.geteuid() != 0:
        sys.exit("mesh_scale: needs root (ip netns)")
    rows = []
    scratch = tempfile.mkdtemp(prefix="hostess-mesh-scale-")
    try:
        for count in [int(c) for c in args.counts.split(",")]:
            print("mesh_scale: %d Hostesses, %.0f s" % (count, args.seconds), file=sys.stderr)
            rows.append(run(args.hostessd, count, args.seconds, args.interval, scratch))
            for name in os.listdir(scratch):
                os.remove(os.path.join(scratch, name))
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    print("| Hostesses | live peers seen (min) | announcements sent / min | received / min | CPU ms / min (mean, max) | CPU ms / min per peer |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print("| %d | %d | %.0f | %.0f | %.1f, %.1f | %.2f |" % (r["hostesses"], r["live_peers_min"], r["sent_per_min"], r["received_per_min"],
                                                              r["cpu_ms_per_min"], r["cpu_ms_per_min_max"], r["cpu_ms_per_peer_per_min"]))
    print(json.dumps(rows), file=sys.stderr)


if __name__ == "__main__":
    main()
