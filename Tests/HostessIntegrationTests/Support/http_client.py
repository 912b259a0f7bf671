#!/usr/bin/env python3
"""An HTTP client for Hostess's integration tests (python3 standard library only).

Reads one JSON spec on stdin and prints one JSON result on stdout.

Requests mode (the default):

    {"host": "127.0.0.1", "port": 8080, "timeout": 10,
     "requests": [{"method": "GET", "target": "/servers?class=0x0001",
                   "headers": [["Content-Type", "application/json"]],
                   "body": "{...}" or null,
                   "newConnection": false, "delay": 0.0,
                   "sign": {"keyId": "k", "secret": "s", "ts": 1700000000 or null, "tsOffset": 0,
                            "nonce": "hex" or null, "signSecret": "other secret" or null,
                            "signMethod": null, "signTarget": null, "signBody": null}}]}

"delay" waits that many seconds before the request. Requests share one http.client connection (keep-alive) unless "newConnection" is true; http.client opens a
new one by itself after the server closed the last. With "sign", the request carries
`Authorization: Hostess-HMAC-SHA256 keyId=K, ts=TS, nonce=N, sig=S` where S is the lower-case hex
HMAC-SHA256 under the secret of METHOD\nTARGET\nTS\nNONCE\nhex(sha256(BODY)), exactly as the contract says;
the sign* fields sign something other than what is sent (to test refusals).

    → {"results": [{"status": 200, "reason": "OK", "version": 11, "headers": [["Content-Type", "..."]],
                    "body": "...", "elapsed": 0.004, "localPort": 51234, "authorization": "..."}
                   or {"error": "ConnectionResetError(...)", "elapsed": ...}]}

Sign mode: {"mode": "sign", "method": "POST", "target": "/register", "body": "..." or null, "sign": {...}}
→ {"authorization": "Hostess-HMAC-SHA256 ..."}: the header alone, for a request another client (curl) sends.

Probe mode: {"mode": "probe-ipv6"} → {"ok": true} or {"ok": false, "reason": "..."}: whether a TCP socket can
bind ::1 on this machine.
"""

import hashlib
import hmac
import http.client
import json
import os
import socket
import sys
import time


def authorization(method, target, body, sign):
    """The Authorization header value for a request, signed as the contract says."""
    ts = sign.get("ts")
    if ts is None:
        ts = int(time.time())
    ts = int(ts) + int(sign.get("tsOffset") or 0)
    nonce = sign.get("nonce") or os.urandom(16).hex()
    signed_method = sign.get("signMethod") or method
    signed_target = sign.get("signTarget") or target
    signed_body = body if sign.get("signBody") is None else sign["signBody"].encode("utf-8")
    secret = (sign.get("signSecret") or sign["secret"]).encode("utf-8")
    digest = hashlib.sha256(signed_body).hexdigest()
    message = "\n".join([signed_method, signed_target, str(ts), nonce, digest]).encode("utf-8")
    sig = hmac.new(secret, message, hashlib.sha256).hexdigest()
    return "Hostess-HMAC-SHA256 keyId=%s, ts=%d, nonce=%s, sig=%s" % (sign["keyId"], ts, nonce, sig)


def run_requests(spec):
    host = spec.get("host", "127.0.0.1")
    port = int(spec["port"])
    timeout = float(spec.get("timeout", 10))
    connection = None
    results = []
    for request in spec["requests"]:
        method = request["method"]
        target = request["target"]
        body_text = request.get("body")
        body = body_text.encode("utf-8") if body_text is not None else None
        headers = {}
        for name, value in request.get("headers", []):
            headers[name] = value
        if "sign" in request:
            headers["Authorization"] = authorization(method, target, body or b"", request["sign"])
        if request.get("delay"):
            time.sleep(float(request["delay"]))
        if connection is None or request.get("newConnection"):
            if connection is not None:
                connection.close()
            connection = http.client.HTTPConnection(host, port, timeout=timeout)
        started = time.monotonic()
        result = {}
        try:
            connection.request(method, target, body=body, headers=headers)
            result["localPort"] = connection.sock.getsockname()[1] if connection.sock else None
            response = connection.getresponse()
            data = response.read()
            result.update(
                status=response.status,
                reason=response.reason,
                version=response.version,
                headers=[[name, value] for name, value in response.getheaders()],
                body=data.decode("utf-8", errors="replace"),
                bodyBytes=len(data),
            )
            if "Authorization" in headers:
                result["authorization"] = headers["Authorization"]
        except Exception as error:  # noqa: BLE001 - reported to the test, which decides
            result["error"] = repr(error)
            connection.close()
            connection = None
        result["elapsed"] = time.monotonic() - started
        results.append(result)
    if connection is not None:
        connection.close()
    return {"results": results}


def probe_ipv6():
    if not socket.has_ipv6:
        return {"ok": False, "reason": "python3 was built without IPv6 support"}
    try:
        probe = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    except OSError as error:
        return {"ok": False, "reason": "cannot create an AF_INET6 socket: %s" % error}
    try:
        probe.bind(("::1", 0))
        probe.listen(1)
    except OSError as error:
        return {"ok": False, "reason": "cannot bind [::1]:0: %s" % error}
    finally:
        probe.close()
    return {"ok": True}


def main():
    spec = json.load(sys.stdin)
    mode = spec.get("mode", "requests")
    if mode == "probe-ipv6":
        result = probe_ipv6()
    elif mode == "sign":
        body = spec.get("body")
        body = body.encode("utf-8") if body is not None else b""
        result = {"authorization": authorization(spec["method"], spec["target"], body, spec["sign"])}
    elif mode == "requests":
        result = run_requests(spec)
    else:
        result = {"error": "unknown mode %r" % mode}
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
