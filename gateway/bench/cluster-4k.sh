#!/usr/bin/env bash
# 4 KiB PUT, three runs each: a single-process fastgate against a gateway over one group of two storage
# nodes (default min_copies = 2), all on loopback on this machine. Prints one line per run.
#   gateway/bench/cluster-4k.sh      (BIN: default target/release/fastgate)
set -u
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=${BIN:-$ROOT/target/release/fastgate}
W=$(mktemp -d)
AK=fastgatebenchkey SK=fastgatebenchsecret0123456789 SEC=bench-cluster-secret-0123456789
PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$W"; }
trap cleanup EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
waitp() { for _ in $(seq 1 200); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; return 1; }
run() { # name endpoint
  for r in 1 2 3; do
    "$BIN" bench put --size 4KiB --count 2000 -c 32 --endpoint "$2" --access-key $AK --secret-key $SK \
      --bucket fastgate-bench --quiet --json "$W/$1.$r.json" >/dev/null 2>&1 || echo "$1 run $r failed" >&2
    python3 -c "import json,sys;p=json.load(open('$W/$1.$r.json'))['phases'][0];print('$1', $r, round(p['ops_per_s']), 'ops/s p50', p['p50_ms'], 'p99', p['p99_ms'], 'errors', p['errors'])"
  done
}
# single process
P=$(port); mkdir -p "$W/single"
FASTGATE_DATA_DIR=$W/single FASTGATE_LISTEN=127.0.0.1:$P FASTGATE_METRICS_LISTEN=off FASTGATE_CONSOLE_LISTEN=off \
  FASTGATE_ACCESS_KEY=$AK FASTGATE_SECRET_KEY=$SK "$BIN" serve >"$W/single.log" 2>&1 & PIDS+=($!)
waitp $P; run single "http://127.0.0.1:$P"
kill "${PIDS[0]}"; wait "${PIDS[0]}" 2>/dev/null
# cluster: two nodes, one group, default min_copies (2)
N1=$(port); N2=$(port); G=$(port)
for n in $N1 $N2; do mkdir -p "$W/n$n"
  FASTGATE_LISTEN=127.0.0.1:$n FASTGATE_DATA_DIR=$W/n$n FASTGATE_CLUSTER_SECRET=$SEC "$BIN" storage >"$W/n$n.log" 2>&1 & PIDS+=($!)
  waitp $n; done
cat >"$W/gw.toml" <<TOML
[cluster]
secret = "$SEC"

[[cluster.groups]]
name = "g1"
nodes = ["http://127.0.0.1:$N1", "http://127.0.0.1:$N2"]
TOML
mkdir -p "$W/gw"
FASTGATE_CONFIG=$W/gw.toml FASTGATE_DATA_DIR=$W/gw FASTGATE_LISTEN=127.0.0.1:$G FASTGATE_METRICS_LISTEN=off FASTGATE_CONSOLE_LISTEN=off \
  FASTGATE_ACCESS_KEY=$AK FASTGATE_SECRET_KEY=$SK "$BIN" serve >"$W/gw.log" 2>&1 & PIDS+=($!)
waitp $G; sleep 2; run cluster "http://127.0.0.1:$G"
echo "chunk files per node:"; for n in $N1 $N2; do find "$W/n$n/M00/data" -type f | wc -l; done
