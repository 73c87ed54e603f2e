#!/usr/bin/env bash
# Standard benchmark matrix: fastgate vs the S3 servers installed on this machine, one at a time on loopback.
#
#   gateway/bench/matrix.sh            # the standard matrix
#   FULL=1 gateway/bench/matrix.sh     # + list over 100000 keys
#   MEMORY=0 gateway/bench/matrix.sh   # without the memory run (64 concurrent 256MiB PUTs, 16GiB of disk)
#   CLUSTER=1 gateway/bench/matrix.sh  # the cluster rows instead: a gateway over two storage nodes
#                                      # (fastgate-cluster) beside two garage nodes with replication_factor 2
#   PG=1 gateway/bench/matrix.sh       # the PostgreSQL rows instead: two gateways over one PostgreSQL and one
#                                      # group of two storage nodes (fastgate-pg) beside the same two garage
#                                      # nodes, both sides' clients spread over their two S3 endpoints; rows:
#                                      # 64MiB and 4KiB PUT/GET, list over 2000 and 100000 keys
#
# Env: FASTGATE_BIN (default target/release/fastgate, built when missing), OUT (results dir, default
# target/bench-matrix), REUPLOAD_BIG (size of the large reupload, default 1GiB), PEERS (default "garage s3s-fs"),
# ENGINES (fastgate's metadata engines to run, default "sled fjall": columns "fastgate" and "fastgate-fjall"),
# BENCH_TIMEOUT (seconds one run may take before it is killed and noted as failed, default 1800).
# Peers are used only when installed (`command -v garage` / `command -v s3s-fs`); nothing is installed here.
# Every run writes OUT/<server>/<test>.json; the side-by-side table goes to stdout and OUT/matrix.md.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${FASTGATE_BIN:-$ROOT/target/release/fastgate}
OUT=${OUT:-$ROOT/target/bench-matrix}
REUPLOAD_BIG=${REUPLOAD_BIG:-1GiB}
PEERS=${PEERS:-"garage s3s-fs"}
ENGINES=${ENGINES:-"sled fjall"}
if [ "${CLUSTER:-0}" = 1 ]; then
    # Two copies of every write on both sides; the memory run would measure the gateway only.
    PEERS="fastgate-cluster garage-2" ENGINES="" MEMORY=0 OUT=${OUT%/}-cluster
fi
if [ "${PG:-0}" = 1 ]; then
    # Stateless gateways over a shared database: the rows issue 15 asks for, each side over two endpoints.
    PEERS="fastgate-pg garage-2" ENGINES="" MEMORY=0 FULL=1 ROWS=pg OUT=${OUT%/}-pg MULTI_ENDPOINT=1
fi
# shellcheck source=servers.sh
. "$(dirname "$0")/servers.sh"

# bench NAME TEST ARGS...: one run against the current server; a failed run is noted, not fatal.
bench() {
    local name=$1 test=$2
    shift 2
    mkdir -p "$OUT/$name"
    echo "== $name: $test" >&2
    # Bounded: a run that hangs (a server that stopped answering) is killed and counted as failed.
    if ! timeout -k 10 "${BENCH_TIMEOUT:-1800}" "$BIN" bench "$@" --endpoint "$ENDPOINT" --access-key "$KEY_ID" --secret-key "$KEY_SECRET" \
        --bucket "$BUCKET" --quiet --json "$OUT/$name/$test.json" >"$OUT/$name/$test.log" 2>&1; then
        echo "   FAILED (see $OUT/$name/$test.log)" >&2
    fi
    sed 's/^/   /' "$OUT/$name/$test.log" >&2
}

run_matrix() {
    local n=$1
    rm -f "$OUT/$n"/*.json
    if [ "${ROWS:-all}" = pg ]; then
        run_pg_rows "$n"
        return
    fi
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

# run_pg_rows NAME: the PG=1 rows, the same runs as the standard matrix's rows of those names.
run_pg_rows() {
    local n=$1 r
    for r in 1 2 3; do
        bench "$n" "put-4KiB.$r" put --size 4KiB --count 2000 -c 32
    done
    bench "$n" get-4KiB get --size 4KiB --count 2000 --objects 2000 -c 32
    bench "$n" list-2000 list --keys 2000 --count 20 -c 1
    bench "$n" list-100000 list --keys 100000 --keys-per-dir 1000 --count 2 -c 1
    for r in 1 2 3; do
        bench "$n" "put-64MiB.$r" put --size 64MiB --count 32 -c 4
    done
    bench "$n" get-64MiB get --size 64MiB --count 8 --objects 8 -c 4
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

each_server run_matrix

python3 "$(dirname "$0")/table.py" "$OUT" "${SERVERS[@]}" | tee "$OUT/matrix.md"
echo "table written to $OUT/matrix.md" >&2
