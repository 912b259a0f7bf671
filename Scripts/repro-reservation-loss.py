#!/usr/bin/env python3
"""Regression check (found by Scripts/crash-storm.sh --restart-kill-fraction 0.2, fixed since): acknowledged reservations were
lost when the hostessd that adopts a crashed predecessor's region is itself killed during its start.

Registry.open() reads SOCKET.reservations first, but openRegion() then calls publishChanges(), whose
ReservationStore.saveIfChanged() sees a revision it never saved (the change log does not reach back to 0)
and rewrites the file with the still empty reservation list, before restoreReservations() and the
save after it. A successor killed in that window (here: HOSTESS_FAILPOINT=after-first-half:1, i.e. in its
first publication, before installRegion()) leaves the old region under the name, with its entries, and an
empty reservations file: the next hostessd adopts the entries but restores no reservation.

Usage: python3 Scripts/repro-reservation-loss.py   (needs .build/release/hostessd; exit 1 = reproduced)
"""
import json
import os
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from crash_storm import open_by_anyone  # noqa: E402
from storm_common import Conn, bin_path, wait_first_answer  # noqa: E402

T = tempfile.mkdtemp(prefix="repro-reservation-loss.")
S, N = T + "/h.sock", f"/repro-reservation-loss-{os.getpid()}"
X = "storm.local:x:0x0100:root:no:none:00000000-0000-4000-8000-000000000001"
before = {n for n in os.listdir("/dev/shm") if n.startswith(".hostess-new-")}


def start(env=None):
    return subprocess.Popen([bin_path("hostessd"), "--socket", S, "--shm", N], stdout=open(T + "/log", "ab"),
                            stderr=subprocess.STDOUT, env=dict(os.environ, **(env or {})))


def in_file():
    return [r["id"] for r in json.load(open(S + ".reservations"))["reservations"]]


status = 0
try:
    p = start()
    wait_first_answer(S, proc=p)
    c = Conn(S)
    c.request({"command": "register", "entry": {"id": X}})
    r = c.request({"command": "reserve", "reservation": {"serverFilter": {"serverIds": [X]}, "count": 1, "duration": 3600000}})
    rid = r["result"]["reservation"]["id"]
    print(f"1. hostessd A: reserve acknowledged: {rid}; {os.path.basename(S)}.reservations holds {in_file()}")
    c.close()
    p.kill()
    p.wait()
    print("2. A killed with SIGKILL")
    p = start({"HOSTESS_FAILPOINT": "after-first-half:1"})
    p.wait()
    print(f"3. successor B (HOSTESS_FAILPOINT=after-first-half:1) died with signal {-p.returncode}; the file now holds {in_file()}")
    p = start()
    wait_first_answer(S, proc=p)
    c = Conn(S)
    e = c.request({"command": "getServer", "serverId": X})
    g = c.request({"command": "getReservation", "reservationId": rid})
    print(f"4. successor C: entry adopted: {'result' in e}; getReservation {rid}: "
          f"{g['error']['code'] if 'error' in g else g['result']['reservation']['status']}")
    status = 1 if "error" in g else 0
    print("REPRODUCED: the acknowledged reservation is gone" if status else "not reproduced: the reservation survived")
    c.close()
    p.terminate()
    p.wait()
finally:
    print("--- hostessd log ---")
    print(open(T + "/log").read(), end="")
    for name in os.listdir("/dev/shm"):
        if name.startswith(N[1:]):
            os.unlink("/dev/shm/" + name)
    # B, killed during adoption, leaves its temporary region (docs/shm-layout.md §2.2): remove the one it left
    for name in {n for n in os.listdir("/dev/shm") if n.startswith(".hostess-new-")} - before:
        if not open_by_anyone("/dev/shm/" + name):
            os.unlink("/dev/shm/" + name)
    subprocess.run(["rm", "-rf", T])
sys.exit(status)
