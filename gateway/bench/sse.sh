#!/usr/bin/env bash
# SSE-S3 beside plaintext in one run: 64 MiB PUTs and GETs against one fastgate (release build, fresh
# data dir, a master key from FASTGATE_KMS_KEYS, never in the data dir), first without encryption, then
# with `--sse` (x-amz-server-side-encryption: AES256), alternating ROUNDS times so that a noisy neighbour
# hits both alike; prints one markdown row per workload and mode (median of the rounds) and the ratio
# encrypted / plaintext. Issue 16 asks for at least 0.8. A GET round reads the COUNT objects GETS_PER_OBJECT
# times (default 4), so that its timed phase is seconds long, not one burst the VM's noise decides.
#
#   gateway/bench/sse.sh                  # COUNT=16 objects of SIZE=64MiB, C=4 in flight, ROUNDS=3
#   BIN=target/debug/fastgate SIZE=8MiB COUNT=4 ROUNDS=1 gateway/bench/sse.sh   # a smoke run
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${BIN:-$ROOT/target/release/fastgate}
OUT=${OUT:-$ROOT/target/bench-sse}
SIZE=${SIZE:-64MiB}
COUNT=${COUNT:-16}
C=${C:-4}
ROUNDS=${ROUNDS:-3}
GETS_PER_OBJECT=${GETS_PER_OBJECT:-4}
source "$ROOT/gateway/bench/servers.sh"

export FASTGATE_KMS_KEYS="bench:$(head -c 32 /dev/urandom | base64)"
start_fastgate fastgate-sse sled
export FASTGATE_ACCESS_KEY=$KEY_ID FASTGATE_SECRET_KEY=$KEY_SECRET

run() { # run WORKLOAD MODE ROUND
    local flags=() count=$COUNT
    [ "$2" = sse ] && flags=(--sse)
    [ "$1" = get ] && count=$((COUNT * GETS_PER_OBJECT))
    "$BIN" bench "$1" --endpoint "$ENDPOINT" --bucket "bench-$2" --size "$SIZE" --count "$count" \
        --objects "$COUNT" -c "$C" --quiet "${flags[@]}" --json "$OUT/$1-$2.$3.json" >/dev/null
}
for r in $(seq 1 "$ROUNDS"); do
    for w in put get; do
        for m in plain sse; do run "$w" "$m" "$r"; done
    done
done

python3 - "$OUT" "$ROUNDS" <<'PY'
import json, statistics, sys
out, rounds = sys.argv[1], int(sys.argv[2])
def mib(w, m):
    rates = []
    for r in range(1, rounds + 1):
        j = json.load(open(f"{out}/{w}-{m}.{r}.json"))
        phases = j.get("phases") or [j]
        rates.append(max(p.get("mib_per_s", 0) for p in phases))
    return statistics.median(rates)
print("| workload | plaintext MiB/s | SSE-S3 MiB/s | SSE-S3 / plaintext |")
print("|---|---|---|---|")
for w in ("put", "get"):
    p, s = mib(w, "plain"), mib(w, "sse")
    print(f"| {w} | {p:.0f} | {s:.0f} | {s / p:.2f} |")
PY
