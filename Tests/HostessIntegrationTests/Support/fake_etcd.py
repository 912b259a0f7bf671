#!/usr/bin/env python3
"""A hostile stand-in for etcd's v3 JSON gateway, for the fleet directory's bad-input tests (standard library
only). It listens on 127.0.0.1 on a port the kernel chooses, writes that port to PORTFILE, and serves for at
most 120 s.

  fake_etcd.py PORTFILE garbage         every request is answered with random bytes, then the connection closes
  fake_etcd.py PORTFILE silent          every request is read and never answered
  fake_etcd.py PORTFILE hugewatch       etcd's answers, but the watch stream sends one response of 6 MiB
  fake_etcd.py PORTFILE entries JSON    etcd's answers; the prefix holds JSON's [[KEY_ID, ANNOUNCED_ID], ...]:
                                        under /hostess/peers/KEY_ID an unsigned announcement naming ANNOUNCED_ID
                                        (JSON may be @FILE: the list read from FILE)
"""
import base64
import json
import os
import random
import socket
import socketserver
import sys
import threading
import time

HEADER = {"cluster_id": "14841639068965178418", "member_id": "10276657743932975437", "revision": "5", "raft_term": "2"}


def announcement(hostess_id):
    body = {
        "type": "HOSTESS_ANNOUNCEMENT", "version": 1, "timestamp": int(time.time() * 1000), "fqdn": "fake.local",
        "hostessId": hostess_id, "endpoint": "http://127.0.0.1:9", "serverCount": 0, "ttl": 60,
        "sequence": 1, "digest": "0" * 64, "connectionMethods": [], "summaryTruncated": True,
    }
    return json.dumps(body, separators=(",", ":")).encode()


def b64(data):
    return base64.b64encode(data).decode()


class Handler(socketserver.BaseRequestHandler):
    def read_request(self):
        data = b""
        self.request.settimeout(30)
        while b"\r\n\r\n" not in data:
            piece = self.request.recv(65536)
            if not piece:
                return None, None
            data += piece
        head, _, body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        length = 0
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name.strip().lower() == "content-length":
                length = int(value.strip())
        while len(body) < length:
            piece = self.request.recv(65536)
            if not piece:
                break
            body += piece
        return lines[0].split(" ")[1], body

    def reply(self, body, chunked=False):
        payload = json.dumps(body).encode()
        if chunked:
            head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            self.request.sendall(head + b"%x\r\n%s\r\n0\r\n\r\n" % (len(payload), payload))
        else:
            head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(payload)
            self.request.sendall(head + payload)

    def chunk(self, data):
        self.request.sendall(b"%x\r\n%s\r\n" % (len(data), data))

    def handle(self):
        mode = self.server.mode
        try:
            target, _ = self.read_request()
            if target is None:
                return
            if mode == "garbage":
                self.request.sendall(os.urandom(random.randint(1, 4096)))
                return
            if mode == "silent":
                self.request.settimeout(60)
                while self.request.recv(65536):
                    pass
                return
            if target == "/v3/lease/grant":
                self.reply({"header": HEADER, "ID": "7587883420389218301", "TTL": "5"})
            elif target == "/v3/lease/keepalive":
                self.reply({"result": {"header": HEADER, "ID": "7587883420389218301", "TTL": "5"}}, chunked=True)
            elif target in ("/v3/kv/put", "/v3/lease/revoke"):
                self.reply({"header": HEADER})
            elif target == "/v3/kv/range":
                kvs = [
                    {"key": b64(("/hostess/peers/" + key).encode()), "value": b64(announcement(named)), "create_revision": "3",
                     "mod_revision": "4", "version": "1", "lease": "1"}
                    for key, named in self.server.entries
                ]
                self.reply({"header": HEADER, "kvs": kvs, "count": str(len(kvs))})
            elif target == "/v3/watch":
                self.request.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
                self.chunk(json.dumps({"result": {"header": HEADER, "created": True}}).encode() + b"\n")
                if mode == "hugewatch":
                    self.chunk(b'{"result":{"header":' + json.dumps(HEADER).encode() + b',"events":[{"kv":{"key":"')
                    block = b"A" * (1 << 20)
                    for _ in range(6):
                        self.chunk(block)
                # Stays open, as etcd's watch does, until the client leaves.
                self.request.settimeout(60)
                while self.request.recv(65536):
                    pass
            else:
                self.request.sendall(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n")
        except (OSError, ValueError):
            pass


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True


def main():
    port_file, mode = sys.argv[1], sys.argv[2]
    server = Server(("127.0.0.1", 0), Handler)
    server.mode = mode
    if mode == "entries":
        text = sys.argv[3]
        if text.startswith("@"):
            with open(text[1:]) as f:
                text = f.read()
        server.entries = json.loads(text)
    else:
        server.entries = []
    threading.Timer(120, server.shutdown).start()
    with open(port_file + ".tmp", "w") as f:
        f.write(str(server.server_address[1]))
    os.rename(port_file + ".tmp", port_file)
    server.serve_forever()


if __name__ == "__main__":
    main()
