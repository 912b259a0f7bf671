#!/usr/bin/env bash
# Captures the fixtures in this directory from a real etcd (Debian's etcd-server 3.4): each *.http file is one
# response of the v3 JSON gateway as curl received it (`curl -i --raw`: status line, header fields, the body
# with its chunked framing). Starts a private etcd on loopback in a temporary directory and stops it after.
# Usage: Tests/HostessDirectoryTests/Fixtures/capture.sh [CLIENT_PORT PEER_PORT]
set -euo pipefail
cd "$(dirname "$0")"
client=${1:-23795}
peer=${2:-23805}
e=http://127.0.0.1:$client
data=$(mktemp -d)
/usr/bin/etcd --name default --data-dir "$data" \
    --listen-client-urls "$e" --advertise-client-urls "$e" \
    --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
    --initial-cluster "default=http://127.0.0.1:$peer" >"$data/log" 2>&1 &
etcd=$!
trap 'kill $etcd 2>/dev/null || true; wait $etcd 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 50); do curl -sf "$e/health" >/dev/null && break; sleep 0.2; done

b64() { printf %s "$1" | base64 -w0; }
# post NAME PATH BODY [HEADER]: saves the response as NAME.http and prints its body.
post() {
    local headers=()
    [ $# -ge 4 ] && headers=(-H "$4")
    curl -s -i --raw -H 'Content-Type: application/json' "${headers[@]}" -X POST "$e$2" -d "$3" >"$1.http"
    sed -n '/^\r$/,$p' "$1.http"
}
# watch NAME SECONDS BODY [HEADER]: the stream for SECONDS, in the background.
watch() {
    local headers=()
    [ $# -ge 4 ] && headers=(-H "$4")
    timeout "$2" curl -s -i --raw -N -H 'Content-Type: application/json' "${headers[@]}" -X POST "$e/v3/watch" -d "$3" >"$1.http" || true
}

prefix=/hostess/peers/
end=/hostess/peers0
first=6f1c3a52-9d1e-4b8f-a2c4-1e5d7b9f0a13
second=0b7e2d94-53a1-4c6f-9e08-d2a4f61b3c57
value='{"type":"HOSTESS_ANNOUNCEMENT","hostessId":"'$first'","ttl":30}'

lease=$(post lease-grant /v3/lease/grant '{"TTL":"30"}' | sed -n 's/.*"ID":"\([0-9]*\)".*/\1/p')
post put /v3/kv/put "{\"key\":\"$(b64 $prefix$first)\",\"value\":\"$(b64 "$value")\",\"lease\":\"$lease\"}" >/dev/null
post put-second /v3/kv/put "{\"key\":\"$(b64 $prefix$second)\",\"value\":\"\"}" >/dev/null
post range /v3/kv/range "{\"key\":\"$(b64 $prefix)\",\"range_end\":\"$(b64 $end)\"}" >/dev/null
post range-empty /v3/kv/range "{\"key\":\"$(b64 /elsewhere/)\",\"range_end\":\"$(b64 /elsewhere0)\"}" >/dev/null
post keepalive /v3/lease/keepalive "{\"ID\":\"$lease\"}" >/dev/null

watch watch 4 "{\"create_request\":{\"key\":\"$(b64 $prefix)\",\"range_end\":\"$(b64 $end)\",\"start_revision\":\"2\"}}" &
watching=$!
sleep 1
post put-again /v3/kv/put "{\"key\":\"$(b64 $prefix$first)\",\"value\":\"$(b64 "$value")\",\"lease\":\"$lease\"}" >/dev/null
post deleterange /v3/kv/deleterange "{\"key\":\"$(b64 $prefix$second)\"}" >/dev/null
post revoke /v3/lease/revoke "{\"ID\":\"$lease\"}" >/dev/null
wait $watching
post keepalive-gone /v3/lease/keepalive "{\"ID\":\"$lease\"}" >/dev/null
post revoke-not-found /v3/lease/revoke "{\"ID\":\"$lease\"}" >/dev/null
post range-future /v3/kv/range "{\"key\":\"$(b64 $prefix)\",\"revision\":\"1000\"}" >/dev/null
post lease-grant-too-long /v3/lease/grant '{"TTL":"99999999999"}' >/dev/null
post compaction /v3/kv/compaction '{"revision":"4"}' >/dev/null
watch watch-compacted 2 "{\"create_request\":{\"key\":\"$(b64 $prefix)\",\"range_end\":\"$(b64 $end)\",\"start_revision\":\"2\"}}"
watch watch-bad-request 2 '{"create_request":{"key":"!!"}}'
post authenticate-not-enabled /v3/auth/authenticate '{"name":"root","password":"root-secret"}' >/dev/null

post user-root /v3/auth/user/add '{"name":"root","password":"root-secret"}' >/dev/null
post role-root /v3/auth/role/add '{"name":"root"}' >/dev/null
post grant-root /v3/auth/user/grant '{"user":"root","role":"root"}' >/dev/null
post user-guest /v3/auth/user/add '{"name":"guest","password":"guest-secret"}' >/dev/null
post auth-enable /v3/auth/enable '{}' >/dev/null
post authenticate /v3/auth/authenticate '{"name":"root","password":"root-secret"}' >/dev/null
post authenticate-failed /v3/auth/authenticate '{"name":"root","password":"wrong"}' >/dev/null
guest=$(post authenticate-guest /v3/auth/authenticate '{"name":"guest","password":"guest-secret"}' | sed -n 's/.*"token":"\([^"]*\)".*/\1/p')
post range-no-token /v3/kv/range "{\"key\":\"$(b64 $prefix)\"}" >/dev/null
post range-bad-token /v3/kv/range "{\"key\":\"$(b64 $prefix)\"}" 'Authorization: not-a-token.1' >/dev/null
post range-denied /v3/kv/range "{\"key\":\"$(b64 $prefix)\"}" "Authorization: $guest" >/dev/null
watch watch-no-token 2 "{\"create_request\":{\"key\":\"$(b64 $prefix)\"}}"
watch watch-bad-token 2 "{\"create_request\":{\"key\":\"$(b64 $prefix)\"}}" 'Authorization: not-a-token.1'
watch watch-denied 2 "{\"create_request\":{\"key\":\"$(b64 $prefix)\"}}" "Authorization: $guest"

# The stream's own error object: etcd stops while a watch is open.
root=$(sed -n 's/.*"token":"\([^"]*\)".*/\1/p' authenticate.http)
watch watch-server-stopped 5 "{\"create_request\":{\"key\":\"$(b64 $prefix)\"}}" "Authorization: $root" &
watching=$!
sleep 1
kill $etcd
wait $watching
# Only the responses the tests read are kept.
rm -f user-root.http role-root.http grant-root.http user-guest.http auth-enable.http authenticate-guest.http put-again.http compaction.http
