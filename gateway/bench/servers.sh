# Servers on loopback for the benchmark scripts (sourced by matrix.sh and crosscheck.sh): fastgate in a fresh
# data dir, and the peers garage (single node, replication_factor 1, sqlite) and s3s-fs; and for the cluster
# rows, fastgate-cluster (a gateway over one group of two `fastgate storage` nodes, min_copies 2) and garage-2
# (two garage nodes, replication_factor 2, data and metadata fsync on: every write durable on both copies, as
# fastgate's); and for the PostgreSQL rows, fastgate-pg (a PostgreSQL server, two storage nodes in one group,
# min_copies 2, and two gateways over that database and that group). With MULTI_ENDPOINT=1 (PG=1 matrix.sh sets
# it) garage-2's ENDPOINT names both of its nodes' S3 APIs, as fastgate-pg's names both gateways (`fastgate
# bench` spreads its clients over comma-separated endpoints). Each start_* sets SERVER_PID (the process that answers S3, whose memory is sampled),
# SERVER_PIDS (every process it started), ENDPOINT, KEY_ID and KEY_SECRET, and leaves the bucket $BUCKET to the
# client (garage's is made here: its keys cannot create buckets). Expects ROOT, BIN and OUT to be set;
# stop_server stops the current one, and the EXIT trap stops it and removes WORK. each_server runs a function
# against every server in turn.

AK=fastgatebenchkey
SK=fastgatebenchsecret0123456789
BUCKET=fastgate-bench

if [ ! -x "$BIN" ]; then
    (cd "$ROOT" && cargo build --release -p fastgate)
fi
mkdir -p "$OUT"
WORK=$(mktemp -d)
SERVER_PID=""
SERVER_PIDS=()
# The data dir of the PostgreSQL server that runs, if any (stopped with pg_ctl, not by pid).
PG_DATA=""

stop_server() {
    local p
    for p in "$SERVER_PID" "${SERVER_PIDS[@]}"; do
        [ -n "$p" ] || continue
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    if [ -n "$PG_DATA" ]; then
        pg_run pg_ctl -D "$PG_DATA" -w -t 60 -m fast stop >/dev/null 2>&1 || true
    fi
    SERVER_PID=""
    SERVER_PIDS=()
    PG_DATA=""
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

# ---- fastgate -------------------------------------------------------------------------------------------
# start_fastgate NAME ENGINE: default settings but for the metadata engine, in a fresh data dir.
start_fastgate() {
    local name=$1 engine=$2 port
    port=$(free_port)
    mkdir -p "$WORK/$name"
    FASTGATE_DATA_DIR="$WORK/$name" FASTGATE_LISTEN="127.0.0.1:$port" FASTGATE_METRICS_LISTEN=off FASTGATE_CONSOLE_LISTEN=off FASTGATE_ACCESS_KEY=$AK \
        FASTGATE_SECRET_KEY=$SK FASTGATE_META_ENGINE=$engine "$BIN" serve >"$OUT/$name-server.log" 2>&1 &
    SERVER_PID=$!
    wait_port "$port"
    ENDPOINT="http://127.0.0.1:$port" KEY_ID=$AK KEY_SECRET=$SK
}

# ---- fastgate-cluster: a gateway over one group of two storage nodes (min_copies 2) ----------------------
start_fastgate_cluster() {
    local name=$1 d=$WORK/$1 secret n1 n2 gw p
    secret=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
    n1=$(free_port) n2=$(free_port) gw=$(free_port)
    for p in $n1 $n2; do
        mkdir -p "$d/node-$p"
        FASTGATE_LISTEN="127.0.0.1:$p" FASTGATE_DATA_DIR="$d/node-$p" FASTGATE_CLUSTER_SECRET=$secret \
            "$BIN" storage >"$OUT/$name-node-$p.log" 2>&1 &
        SERVER_PIDS+=($!)
        wait_port "$p"
    done
    mkdir -p "$d/gateway"
    cat >"$d/gateway.toml" <<TOML
[cluster]
secret = "$secret"
min_copies = 2

[[cluster.groups]]
name = "g1"
nodes = ["http://127.0.0.1:$n1", "http://127.0.0.1:$n2"]
TOML
    FASTGATE_CONFIG="$d/gateway.toml" FASTGATE_DATA_DIR="$d/gateway" FASTGATE_LISTEN="127.0.0.1:$gw" \
        FASTGATE_METRICS_LISTEN=off FASTGATE_CONSOLE_LISTEN=off FASTGATE_ACCESS_KEY=$AK FASTGATE_SECRET_KEY=$SK \
        "$BIN" serve >"$OUT/$name-server.log" 2>&1 &
    SERVER_PID=$!
    wait_port "$gw"
    ENDPOINT="http://127.0.0.1:$gw" KEY_ID=$AK KEY_SECRET=$SK
    # Both nodes active (the first heartbeat and repair pass) before the first write.
    for _ in $(seq 1 100); do
        if FASTGATE_ACCESS_KEY=$AK FASTGATE_SECRET_KEY=$SK "$BIN" admin cluster --endpoint "$ENDPOINT" 2>/dev/null |
            grep -c ' active ' | grep -qx 2; then return 0; fi
        sleep 0.1
    done
    echo "the storage nodes did not become active" >&2
    return 1
}

# ---- fastgate-pg: two gateways over one PostgreSQL database and one group of two storage nodes ------------
# pg_run PROGRAM ARGS...: one of PostgreSQL's server programs (Debian's package, newest major version), as the
# postgres user when we are root (PostgreSQL refuses to run as root).
pg_run() {
    local prog=$1 bin
    shift
    bin=$(find /usr/lib/postgresql -maxdepth 3 -path '*/bin/initdb' 2>/dev/null | sort -V | tail -n1)
    [ -n "$bin" ] || { echo "PostgreSQL's server programs (/usr/lib/postgresql/*/bin) are missing" >&2; return 1; }
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$(dirname "$bin")/$prog" "$@"
    else
        "$(dirname "$bin")/$prog" "$@"
    fi
}

start_fastgate_pg() {
    local name=$1 d=$WORK/$1 secret n1 n2 gw p url
    local -a gws
    secret=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
    # PostgreSQL on a Unix socket in its own dir, fsync and synchronous_commit on (its defaults, spelled out):
    # a transaction is acknowledged once its WAL is flushed, so every write the gateways answer is durable.
    mkdir -p "$d/pg"
    chmod o+x "$WORK" "$d"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$d/pg"
    pg_run initdb -D "$d/pg/data" --auth=trust -U postgres -E UTF8 --no-locale >"$OUT/$name-initdb.log" 2>&1 || return 1
    PG_DATA=$d/pg/data
    pg_run pg_ctl -D "$PG_DATA" -l "$d/pg/server.log" -w -t 60 -o "-k $d/pg -c listen_addresses='' -p 5432 \
-c fsync=on -c synchronous_commit=on -c full_page_writes=on -c max_connections=200" start >/dev/null || return 1
    url="host=$d/pg port=5432 user=postgres dbname=postgres"
    n1=$(free_port) n2=$(free_port)
    for p in $n1 $n2; do
        mkdir -p "$d/node-$p"
        FASTGATE_LISTEN="127.0.0.1:$p" FASTGATE_DATA_DIR="$d/node-$p" FASTGATE_CLUSTER_SECRET=$secret \
            "$BIN" storage >"$OUT/$name-node-$p.log" 2>&1 &
        SERVER_PIDS+=($!)
        wait_port "$p"
    done
    cat >"$d/gateway.toml" <<TOML
[cluster]
secret = "$secret"
min_copies = 2

[[cluster.groups]]
name = "g1"
nodes = ["http://127.0.0.1:$n1", "http://127.0.0.1:$n2"]
TOML
    # One gateway at a time: the first creates the table and the root key, the second finds them.
    for i in 1 2; do
        gw=$(free_port)
        mkdir -p "$d/gateway-$i"
        FASTGATE_CONFIG="$d/gateway.toml" FASTGATE_DATA_DIR="$d/gateway-$i" FASTGATE_LISTEN="127.0.0.1:$gw" \
            FASTGATE_META_ENGINE=postgres FASTGATE_META_URL="$url" FASTGATE_METRICS_LISTEN=off \
            FASTGATE_CONSOLE_LISTEN=off FASTGATE_ACCESS_KEY=$AK FASTGATE_SECRET_KEY=$SK \
            "$BIN" serve >"$OUT/$name-server-$i.log" 2>&1 &
        if [ "$i" = 1 ]; then SERVER_PID=$!; else SERVER_PIDS+=($!); fi
        wait_port "$gw"
        gws+=("http://127.0.0.1:$gw")
    done
    ENDPOINT="${gws[0]},${gws[1]}" KEY_ID=$AK KEY_SECRET=$SK
    # Both nodes active, as both gateways see them, before the first write.
    for _ in $(seq 1 100); do
        local active=0
        for gw in "${gws[@]}"; do
            if FASTGATE_ACCESS_KEY=$AK FASTGATE_SECRET_KEY=$SK "$BIN" admin cluster --endpoint "$gw" 2>/dev/null |
                grep -c ' active ' | grep -qx 2; then active=$((active + 1)); fi
        done
        [ "$active" = 2 ] && return 0
        sleep 0.1
    done
    echo "the storage nodes did not become active" >&2
    return 1
}

# ---- garage-2: two nodes, replication_factor 2, fsync of data and metadata --------------------------------
start_garage2() {
    local d=$WORK/garage2 secret i rpc s3 admin cfg node keyout
    local -a rpcs s3s cfgs nodes
    secret=$(python3 -c 'import secrets; print(secrets.token_hex(32))')
    for i in 1 2; do
        mkdir -p "$d/$i/meta" "$d/$i/data"
        rpc=$(free_port) s3=$(free_port) admin=$(free_port)
        cfg=$d/$i/garage.toml
        cat >"$cfg" <<TOML
metadata_dir = "$d/$i/meta"
data_dir = "$d/$i/data"
db_engine = "lmdb"
replication_factor = 2
data_fsync = true
metadata_fsync = true
rpc_bind_addr = "127.0.0.1:$rpc"
rpc_public_addr = "127.0.0.1:$rpc"
rpc_secret = "$secret"

[s3_api]
s3_region = "us-east-1"
api_bind_addr = "127.0.0.1:$s3"
root_domain = ".s3.garage.localhost"

[admin]
api_bind_addr = "127.0.0.1:$admin"
TOML
        garage -c "$cfg" server >"$OUT/garage-2-node$i.log" 2>&1 &
        if [ "$i" = 1 ]; then SERVER_PID=$!; else SERVER_PIDS+=($!); fi
        wait_port "$rpc"
        wait_port "$s3"
        rpcs+=("$rpc") s3s+=("$s3") cfgs+=("$cfg")
    done
    for i in 0 1; do
        nodes+=("$(garage -c "${cfgs[$i]}" node id -q 2>/dev/null | cut -d@ -f1)")
    done
    garage -c "${cfgs[0]}" node connect "${nodes[1]}@127.0.0.1:${rpcs[1]}" >/dev/null
    garage -c "${cfgs[0]}" layout assign -z dc1 -c 10G "${nodes[0]}" >/dev/null
    garage -c "${cfgs[0]}" layout assign -z dc2 -c 10G "${nodes[1]}" >/dev/null
    garage -c "${cfgs[0]}" layout apply --version 1 >/dev/null
    keyout=$(garage -c "${cfgs[0]}" key create fastgate-bench)
    KEY_ID=$(echo "$keyout" | awk -F': *' '/Key ID/ {print $2; exit}')
    KEY_SECRET=$(echo "$keyout" | awk -F': *' '/Secret key/ {print $2; exit}')
    garage -c "${cfgs[0]}" bucket create "$BUCKET" >/dev/null
    garage -c "${cfgs[0]}" bucket allow --read --write --owner "$BUCKET" --key fastgate-bench >/dev/null
    ENDPOINT="http://127.0.0.1:${s3s[0]}"
    if [ "${MULTI_ENDPOINT:-0}" = 1 ]; then
        # Every garage node serves the S3 API for the whole cluster.
        ENDPOINT="$ENDPOINT,http://127.0.0.1:${s3s[1]}"
    fi
    # A write needs both nodes (quorum 2), and the first node knows the second only once
    # its status has arrived (some seconds after `node connect`): a write before then waits.
    for _ in $(seq 1 120); do
        [ "$(garage -c "${cfgs[0]}" status 2>/dev/null | grep -c 'git:')" -ge 2 ] && break
        sleep 0.5
    done
    for _ in $(seq 1 50); do
        if timeout 10 "$BIN" bench put --size 1KiB --count 2 --quiet --endpoint "$ENDPOINT" --access-key "$KEY_ID" \
            --secret-key "$KEY_SECRET" --bucket "$BUCKET" >/dev/null 2>&1; then return 0; fi
        sleep 0.2
    done
    echo "garage-2 did not become ready" >&2
    return 1
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

# each_server RUN: fastgate once per metadata engine in $ENGINES, then every peer in $PEERS that is installed,
# each started fresh, given to `RUN NAME` and stopped; SERVERS lists the names that ran, for table.py.
each_server() {
    local run=$1 engine name peer
    SERVERS=()
    for engine in $ENGINES; do
        name=fastgate
        [ "$engine" = sled ] || name=fastgate-$engine
        start_fastgate "$name" "$engine"
        "$run" "$name"
        stop_server
        rm -rf "${WORK:?}/$name"
        SERVERS+=("$name")
    done
    for peer in $PEERS; do
        local cmd=${peer%-2}
        case $peer in fastgate-cluster | fastgate-pg) cmd=$BIN ;; esac
        if ! command -v "$cmd" >/dev/null 2>&1; then
            echo "== $peer not installed: skipped" >&2
            rm -rf "${OUT:?}/$peer"
            continue
        fi
        case $peer in
            garage) start_garage || { stop_server; continue; } ;;
            garage-2) start_garage2 || { stop_server; continue; } ;;
            fastgate-cluster) start_fastgate_cluster "$peer" || { stop_server; continue; } ;;
            fastgate-pg) start_fastgate_pg "$peer" || { stop_server; continue; } ;;
            s3s-fs) start_s3s_fs || { stop_server; continue; } ;;
            *) echo "unknown peer $peer" >&2; continue ;;
        esac
        "$run" "$peer"
        stop_server
        SERVERS+=("$peer")
    done
}
