"""A listener on one port of a probe's range that is not a beacon, for ProbingTests.

usage: probe_impostor.py HOST PORT MODE SECONDS
MODE: garbage (a line that is no message), wronghash (a BEACON line with a wrong hash), terminate (a
spoofed TERMINATE), silent (accepts and says nothing). Prints "ready" once listening; serves until
SECONDS pass; prints how many connections it saw.
"""
import json, os, socket, sys, time

host, port, mode, seconds = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind((host, port))
listener.listen(64)
listener.settimeout(0.1)
print("ready", flush=True)
seen, held, end = 0, [], time.time() + seconds
while time.time() < end:
    try:
        connection, _ = listener.accept()
    except socket.timeout:
        continue
    seen += 1
    if mode == "garbage":
        connection.sendall(b"hello, I am not a beacon\n")
    elif mode == "wronghash":
        connection.sendall((json.dumps({"type": "BEACON", "hash": "0" * 64, "nonce": "1" * 32}) + "\n").encode())
    elif mode == "terminate":
        connection.sendall((json.dumps({"type": "TERMINATE", "hash": "a" * 64, "mac": "b" * 64}) + "\n").encode())
    held.append(connection)
print("connections", seen, flush=True)
