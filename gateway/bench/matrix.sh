#!/usr/bin/env bash
# Standard benchmark matrix: fastgate vs the S3 servers installed on this machine, one at a time on loopback.
#
#   gateway/bench/matrix.sh            # the standard matrix
#   FULL=1 gateway/bench/matrix.sh     # + list over 100000 keys
#   MEMORY=0 gateway/bench/matrix.sh   # without the memory run (64 concurrent 256MiB PUTs, 16GiB of disk)
#
# Env: FASTGATE_BIN (default target/release/fastgate, built when missing), OUT (results dir, default
# target/bench-matrix), REUPLOAD_BIG (size of the large reupload, default 1GiB), PEERS (default "garage s3s-fs"),
# ENGINES (fastgate's metadata engines to run, default "sled fjall": columns "fastgate" and "fastgate-fjall").
# Peers are used only when installed (`command -v garage` / `command -v s3s-fs`); nothing is installed here.
# Every run writes OUT/<server>/<test>.json; the side-by-side table goes to stdout and OUT/matrix.md.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${FASTGATE_BIN:-$ROOT/target/release/fastgate}
OUT=${OUT:-$ROOT/target/bench-matrix}
REUPLOAD_BIG=${REUPLOAD_BIG:-1GiB}
PEERS=${PEERS:-"garage s3s-fs"}
ENGINES=${ENGINES:-"sled fjall"}
AK=fastgatebenchkey
SK=fastgatebenchsecret0123456789
BUCKET=fastgate-bench

if [ ! -x "$BIN" ]; then
    (cd "$ROOT" && cargo build --release -p fastgate)
fi
mkdir -p "$OUT"
WORK=$(mktemp -d)
SERVER_PID=""

stop_server() {
    if [ -n "$SERVER_PID" ]; then
        kill "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
        SERVER_PID=""
    fi
}
cleanup() {
    stop_server
    rm -rf "$WORK"
}
trap cleanup EXIT

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until something accepts TCP connections on 127.0.0.1:$1.
wait_port() {
    for _ in $(seq 1 200); do
        if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    echo "nothing listening on port $1" >&2
    return 1
}

# bench NAME TEST ARGS...: one run against the current server; a failed run is noted, not fatal.
bench() {
    local name=$1 test=$2
    shift 2
    mkdir -p "$OUT/$name"
    echo "== $name: $test" >&2
    if ! "$BIN" bench "$@" --endpoint "$ENDPOINT" --access-key "$KEY_ID" --secret-key "$KEY_SECRET" \
        --bucket "$BUCKET" --quiet --json "$OUT/$name/$test.json" >"$OUT/$name/$test.log" 2>&1; then
        echo "   FAILED (see $OUT/$name/$test.log)" >&2
    fi
    sed 's/^/   /' "$OUT/$name/$test.log" >&2
}

run_matrix() {
    local n=$1
    rm -f "$OUT/$n"/*.json
    # The PUT rows are the ones the VM's noise moves most (its disk and its neighbours):
    # three runs each, and the table takes the median.
    for r in 1 2 3; do
        bench "$n" "put-64MiB.$r" put --size 64MiB --count 32 -c 4
    done
    bench "$n" get-64MiB get --size 64MiB --count 8 --objects 8 -c 4
    for r in 1 2 3; do
        bench "$n" "put-4KiB.$r" put --size 4KiB --count 2000 -c 32
    done
    bench "$n" get-4KiB get --size 4KiB --count 2000 --objects 2000 -c 32
    bench "$n" list-2000 list --keys 2000 --count 20 -c 1
    if [ "${FULL:-0}" = 1 ]; then
        bench "$n" list-100000 list --keys 100000 --keys-per-dir 1000 --count 2 -c 1
    fi
    bench "$n" reupload-1KiB reupload --size 1KiB --count 200 -c 1
    bench "$n" reupload-big reupload --size "$REUPLOAD_BIG" --count 20 -c 1
    bench "$n" multipart-256MiB multipart --size 256MiB --part-size 16MiB --count 2 -c 4
    if [ "${MEMORY:-1}" = 1 ]; then
        memory "$n"
    fi
}

# memory NAME: the server's peak resident size while 64 clients each PUT 256MiB at once (16GiB in all),
# sampled from /proc every 100ms, written as a one-phase JSON for table.py.
memory() {
    local name=$1 peak=0 rss sampler
    (
        while kill -0 "$SERVER_PID" 2>/dev/null; do
            awk '/^VmRSS/ {print $2}' "/proc/$SERVER_PID/status" 2>/dev/null
            sleep 0.1
        done
    ) >"$OUT/$name/rss.samples" &
    sampler=$!
    bench "$name" memory-put put --size 256MiB --count 64 -c 64
    kill "$sampler" 2>/dev/null || true
    wait "$sampler" 2>/dev/null || true
    while read -r rss; do
        [ -n "$rss" ] && [ "$rss" -gt "$peak" ] && peak=$rss
    done <"$OUT/$name/rss.samples"
    printf '{"phases":[{"name":"memory","peak_rss_mib":%s,"errors":0}]}\n' "$(awk -v k="$peak" 'BEGIN {printf "%.1f", k/1024}')" \
        >"$OUT/$name/memory.json"
    echo "   peak RSS $((peak / 1024)) MiB" >&2
}

# ---- fastgate -------------------------------------------------------------------------------------------
# start_fastgate NAME ENGINE: default settings but for the metadata engine, in a fresh data dir.
start_fastgate() {
    local name=$1 engine=$2 port
    port=$(free_port)
    mkdir -p "$WORK/$name"
    FASTGATE_DATA_DIR="$WORK/$name" FASTGATE_LISTEN="127.0.0.1:$port" FASTGATE_ACCESS_KEY=$AK \
        FASTGATE_SECRET_KEY=$SK FASTGATE_META_ENGINE=$engine "$BIN" serve >"$OUT/$name-server.log" 2>&1 &
    SERVER_PID=$!
    wait_port "$port"
    ENDPOINT="http://127.0.0.1:$port" KEY_ID=$AK KEY_SECRET=$SK
}

# ---- garage (single node, replication_factor 1, sqlite metadata) ----------------------------------------
start_garage() {
    local d=$WORK/garage rpc s3 admin cfg node keyout
    mkdir -p "$d/meta" "$d/data"
    rpc=$(free_port) s3=$(free_port) admin=$(free_port)
    cfg=$d/garage.toml
    cat >"$cfg" <<TOML
metadata_dir = "$d/meta"
data_dir = "$d/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$rpc"
rpc_public_addr = "127.0.0.1:$rpc"
rpc_secret = "$(python3 -c 'import secrets; print(secrets.token_hex(32))')"

[s3_api]
s3_region = "us-east-1"
api_bind_addr = "127.0.0.1:$s3"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:$admin"
TOML
    garage -c "$cfg" server >"$OUT/garage-server.log" 2>&1 &
    SERVER_PID=$!
    wait_port "$rpc"
    wait_port "$s3"
    node=$(garage -c "$cfg" node id -q 2>/dev/null | cut -d@ -f1)
    garage -c "$cfg" layout assign -z dc1 -c 10G "$node" >/dev/null
    garage -c "$cfg" layout apply --version 1 >/dev/null
    keyout=$(garage -c "$cfg" key create fastgate-bench)
    KEY_ID=$(echo "$keyout" | awk -F': *' '/Key ID/ {print $2; exit}')
    KEY_SECRET=$(echo "$keyout" | awk -F': *' '/Secret key/ {print $2; exit}')
    garage -c "$cfg" bucket create "$BUCKET" >/dev/null
    garage -c "$cfg" bucket allow --read --write --owner "$BUCKET" --key fastgate-bench >/dev/null
    ENDPOINT="http://127.0.0.1:$s3"
    # The layout takes a moment to be live: probe with a 1-object PUT.
    for _ in $(seq 1 50); do
        if "$BIN" bench put --size 1 --count 1 --quiet --endpoint "$ENDPOINT" --access-key "$KEY_ID" \
            --secret-key "$KEY_SECRET" --bucket "$BUCKET" >/dev/null 2>&1; then return 0; fi
        sleep 0.2
    done
    echo "garage did not become ready" >&2
    return 1
}

# ---- s3s-fs ----------------------------------------------------------------------------------------------
start_s3s_fs() {
    local port
    port=$(free_port)
    mkdir -p "$WORK/s3s-fs"
    s3s-fs --host 127.0.0.1 --port "$port" --access-key $AK --secret-key $SK "$WORK/s3s-fs" \
        >"$OUT/s3s-fs-server.log" 2>&1 &
    SERVER_PID=$!
    wait_port "$port"
    ENDPOINT="http://127.0.0.1:$port" KEY_ID=$AK KEY_SECRET=$SK
}

SERVERS=()
for engine in $ENGINES; do
    name=fastgate
    [ "$engine" = sled ] || name=fastgate-$engine
    start_fastgate "$name" "$engine"
    run_matrix "$name"
    stop_server
    rm -rf "${WORK:?}/$name"
    SERVERS+=("$name")
done

for peer in $PEERS; do
    if ! command -v "$peer" >/dev/null 2>&1; then
        echo "== $peer not installed: skipped" >&2
        rm -rf "${OUT:?}/$peer"
        continue
    fi
    case $peer in
        garage) start_garage || { stop_server; continue; } ;;
        s3s-fs) start_s3s_fs || { stop_server; continue; } ;;
        *) echo "unknown peer $peer" >&2; continue ;;
    esac
    run_matrix "$peer"
    stop_server
    SERVERS+=("$peer")
done

python3 "$(dirname "$0")/table.py" "$OUT" "${SERVERS[@]}" | tee "$OUT/matrix.md"
echo "table written to $OUT/matrix.md" >&2
