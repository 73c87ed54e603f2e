#!/usr/bin/env bash
# `fastgate cp` through a byte-counting TCP proxy (python asyncio, loopback), over HTTPS
# with the endpoint's own certificate (made here by openssl, given with --ca-bundle):
#
#  1. a 200 MiB file is uploaded: all of it crosses the proxy;
#  2. the same file under another key: under 1% of its bytes cross the proxy (each part
#     is probed and found stored, so no body is sent);
#  3. another 200 MiB file, one part at a time, the cp SIGKILLed once about half of it
#     crossed, then run again: both runs together send at most the file plus one part
#     (plus the TLS and HTTP framing, allowed 0.5% and reported).
#
# The certificate is the endpoint's own (signed by a CA made here, which the clients are
# told to trust). The proxy counts client -> server bytes at the TCP level, TLS records included: what a
# network between the client and the server would carry.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

BUCKET=cp-proxy
PART=$((8 * MiB))
PROXY_PID=""
CP_PID=""

# new_cert: a CA and the server's certificate for 127.0.0.1 and localhost, signed by it
# (rustls, under `fastgate cp`, refuses a CA certificate used as the server's own, which
# is what `openssl req -x509` alone makes).
new_cert() {
    local ec=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
    openssl req -x509 "${ec[@]}" -days 2 -keyout "$CERTS/ca.key" -out "$CERTS/ca.pem" \
        -subj /CN=fastgate-cp-proxy-ca 2>/dev/null || fail "openssl could not make a CA"
    openssl req "${ec[@]}" -keyout "$CERTS/server.key" -out "$CERTS/server.csr" -subj /CN=localhost 2>/dev/null \
        || fail "openssl could not make a request"
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' \
        >"$CERTS/server.ext"
    openssl x509 -req -in "$CERTS/server.csr" -CA "$CERTS/ca.pem" -CAkey "$CERTS/ca.key" -CAcreateserial \
        -days 2 -extfile "$CERTS/server.ext" -out "$CERTS/server.pem" 2>/dev/null \
        || fail "openssl could not sign the server's certificate"
}

# start_proxy: listens on PROXY_PORT, forwards to fastgate, and keeps the number of bytes
# sent by clients in $COUNT_FILE (rewritten every 50 ms and when a connection closes).
start_proxy() {
    PROXY_PORT="$(fg_free_port)"
    COUNT_FILE="$FG_TMP/proxy-count"
    echo 0 >"$COUNT_FILE"
    cat >"$FG_TMP/proxy.py" <<'PY'
import asyncio, os, sys

listen_port, upstream_port, count_file = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
up = 0

def publish():
    tmp = count_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(f"{up}\n")
    os.replace(tmp, count_file)

async def pipe(reader, writer, count):
    global up
    try:
        while True:
            data = await reader.read(1 << 16)
            if not data:
                break
            if count:
                up += len(data)
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        try:
            writer.close()
        except Exception:
            pass

async def handle(client_reader, client_writer):
    try:
        server_reader, server_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
    except OSError:
        client_writer.close()
        return
    await asyncio.gather(
        pipe(client_reader, server_writer, True),
        pipe(server_reader, client_writer, False),
    )
    publish()

async def publisher():
    while True:
        publish()
        await asyncio.sleep(0.05)

async def main():
    server = await asyncio.start_server(handle, "127.0.0.1", listen_port)
    async with server:
        await asyncio.gather(server.serve_forever(), publisher())

asyncio.run(main())
PY
    python3 "$FG_TMP/proxy.py" "$PROXY_PORT" "$FG_PORT" "$COUNT_FILE" >"$FG_TMP/proxy.log" 2>&1 &
    PROXY_PID=$!
    fg_on_exit 'if [ -n "$PROXY_PID" ]; then kill "$PROXY_PID" 2>/dev/null; fi'
    for _ in $(seq 1 100); do
        fg_port_open "$PROXY_PORT" && return 0
        sleep 0.05
    done
    fail "the proxy did not start"
}

proxied() { cat "$COUNT_FILE"; }

# cpx ARGS...: fastgate cp to the proxy's address, trusting the server's certificate.
cpx() {
    "$FASTGATE_BIN" cp --quiet --endpoint-url "https://127.0.0.1:$PROXY_PORT" --ca-bundle "$CERTS/ca.pem" \
        --state-dir "$FG_TMP/cp-state" "$@"
}

# measure VAR CMD...: the bytes that crossed the proxy while CMD ran.
measure() {
    local __var="$1" before
    shift
    before="$(proxied)"
    "$@" || fail "command failed: $*"
    sleep 0.2 # the last count is published at connection close or within 50 ms
    printf -v "$__var" '%s' "$(($(proxied) - before))"
}

download_and_compare() { # KEY SOURCE
    rm -f "$W/down.bin"
    cpx "s3://$BUCKET/$1" "$W/down.bin" || fail "fastgate cp s3://$BUCKET/$1 (download)"
    assert_same_file "$2" "$W/down.bin"
    rm -f "$W/down.bin"
}

test_upload_then_instant() {
    step "200 MiB through the proxy, then again under another key"
    local src="$W/a.bin" size=$((200 * MiB + 4321)) first again
    gen_file "$src" "$size"
    aws --ca-bundle "$CERTS/ca.pem" --endpoint-url "$FG_ENDPOINT" s3 mb "s3://$BUCKET" >/dev/null \
        || fail "aws s3 mb"
    measure first cpx "$src" "s3://$BUCKET/a.bin"
    log "first upload: $first bytes crossed the proxy for a $size-byte file"
    [ "$first" -ge "$size" ] || fail "the first upload sent $first bytes for $size (the proxy did not see it?)"
    measure again cpx "$src" "s3://$BUCKET/a-again.bin"
    log "same file, another key: $again bytes crossed the proxy ($((again * 10000 / size)) / 10000 of the file)"
    [ "$((again * 100))" -lt "$size" ] || fail "the re-upload sent $again bytes (limit: 1% of $size)"
    download_and_compare a-again.bin "$src"
    rm -f "$src"
}

test_kill_and_resume() {
    step "200 MiB, SIGKILL about half-way, run again"
    local src="$W/b.bin" size=$((200 * MiB + 99)) start now r1 r2 allowed
    gen_file "$src" "$size"
    start="$(proxied)"
    setsid "$FASTGATE_BIN" cp --quiet --endpoint-url "https://127.0.0.1:$PROXY_PORT" --ca-bundle "$CERTS/ca.pem" \
        --state-dir "$FG_TMP/cp-state" --concurrency 1 "$src" "s3://$BUCKET/b.bin" \
        </dev/null >"$FG_TMP/cp-run1.log" 2>&1 &
    CP_PID=$!
    fg_on_exit 'if [ -n "$CP_PID" ]; then kill -KILL "$CP_PID" 2>/dev/null; fi'
    for _ in $(seq 1 1200); do
        now="$(proxied)"
        [ "$((now - start))" -ge "$((size / 2))" ] && break
        kill -0 "$CP_PID" 2>/dev/null || { cat "$FG_TMP/cp-run1.log" >&2; fail "run 1 ended before half of the file crossed ($((now - start)) bytes)"; }
        sleep 0.05
    done
    kill -KILL "$CP_PID" 2>/dev/null || true
    wait "$CP_PID" 2>/dev/null || true
    CP_PID=""
    sleep 0.3
    r1="$(($(proxied) - start))"
    log "run 1 killed after $r1 of $size bytes crossed"
    [ "$r1" -lt "$size" ] || fail "run 1 finished before it was killed ($r1 bytes)"
    measure r2 cpx "$src" "s3://$BUCKET/b.bin"
    allowed=$((size + PART + size / 200))
    log "run 2 sent $r2 bytes; both runs: $((r1 + r2)) for a $size-byte file (allowed: file + one part + 0.5% framing = $allowed)"
    log "beyond the file: $((r1 + r2 - size)) bytes = $(((r1 + r2 - size) * 100 / PART))% of a part"
    [ "$((r1 + r2))" -le "$allowed" ] || fail "kill and resume sent $((r1 + r2)) bytes in all (allowed $allowed)"
    download_and_compare b.bin "$src"
}

main() {
    CERTS="$(mktemp -d -t fastgate-cp-proxy-certs.XXXXXX)"
    new_cert
    FG_SCHEME=https fg_setup --tls-cert "$CERTS/server.pem" --tls-key "$CERTS/server.key"
    fg_on_exit "rm -rf '$CERTS'"
    W="$FG_TMP/work"
    mkdir -p "$W"
    start_proxy
    test_upload_then_instant
    test_kill_and_resume
    fg_pass
}

main "$@"
