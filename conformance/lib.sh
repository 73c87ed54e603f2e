#!/usr/bin/env bash
# Shared helpers for the fastgate conformance scripts. Source it, do not run it:
#
#   source "$(dirname "$0")/lib.sh"
#   fg_setup            # temp dir + binary + server + client configs + cleanup trap
#   ... drive clients, call fail/assert_* on any difference ...
#   fg_pass             # prints the closing PASS line
#
# Environment knobs (all optional):
#   FASTGATE_BIN   use this binary instead of locating/building one
#   FG_RUST_LOG    RUST_LOG for the server (e.g. "s3s=debug,fastgate=debug" to see the traffic)
#   FG_KEEP_TMP=1  keep the temp dir (data dir, server log, client configs) for a post-mortem
#   FG_VERBOSE=1   echo client commands as they run
#   FG_CONSOLE_LISTEN  the web console's address (default: off; console.sh sets one)
#
# Each script owns one server on a free loopback port, with a private data dir, so scripts
# never see each other's objects or metrics (the instant-upload checks read counter deltas).
set -euo pipefail

FG_CONF_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
FG_REPO="$(cd "$FG_CONF_DIR/.." && pwd)"

# Fixed test credentials: the server is started with them as its root user and every
# client is configured with them, so a signature mismatch is a real SigV2/SigV4 bug.
FG_ACCESS_KEY="${FG_ACCESS_KEY:-FGCONFORMANCEKEY0001}"
FG_SECRET_KEY="${FG_SECRET_KEY:-fgConformanceSecretKey/0123456789abcdefXY}"
FG_REGION="us-east-1"
FG_SCRIPT_NAME="$(basename "${0:-conformance}")"

# All traffic goes to 127.0.0.1: never through a proxy a machine may have configured.
export NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}" no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}"

FG_TMP=""
FG_PID=""
FG_PORT=""
FG_METRICS_PORT=""
FG_ENDPOINT=""
FG_DATA_DIR=""
FG_LOG=""
FG_CLEANUP_HOOKS=()

# ---------------------------------------------------------------------------------------------
# reporting

log() { printf '[%s %s] %s\n' "$FG_SCRIPT_NAME" "$(date +%H:%M:%S)" "$*" >&2; }
step() { printf '\n[%s %s] ==> %s\n' "$FG_SCRIPT_NAME" "$(date +%H:%M:%S)" "$*" >&2; }

# fail MESSAGE...: loud banner, the tail of the server log (usually where the reason is),
# then exit non-zero. The EXIT trap still stops the server and removes temp files.
fail() {
    {
        echo
        echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
        echo "!!! FAIL [$FG_SCRIPT_NAME]: $*"
        echo "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"
        if [ -n "$FG_LOG" ] && [ -s "$FG_LOG" ]; then
            echo "---- last 40 lines of the server log ($FG_LOG) ----"
            tail -n 40 "$FG_LOG" | sed 's/\x1b\[[0-9;]*m//g' | cut -c1-400
            echo "---- end of server log ----"
        fi
    } >&2
    exit 1
}

fg_pass() { echo "PASS [$FG_SCRIPT_NAME]" >&2; }

# run CMD...: run a client command, echoing it when FG_VERBOSE=1; on failure print the
# exact command and its output so the report can quote it.
run() {
    local out rc=0
    [ "${FG_VERBOSE:-0}" = 1 ] && log "+ $*"
    out="$("$@" 2>&1)" || rc=$?
    if [ "$rc" -ne 0 ]; then
        printf '%s\n' "$out" | tail -n 40 >&2
        fail "command failed (exit $rc): $*"
    fi
    [ -n "$out" ] && [ "${FG_VERBOSE:-0}" = 1 ] && printf '%s\n' "$out" >&2
    return 0
}

# expect_error CODE CMD...: the command must fail and its output must name the S3 error CODE
# (e.g. NoSuchKey); a success or another error is a conformance failure.
expect_error() {
    local code="$1" out rc=0
    shift
    out="$("$@" 2>&1)" || rc=$?
    [ "$rc" -ne 0 ] || fail "expected $code but command succeeded: $*"$'\n'"$out"
    grep -q -- "$code" <<<"$out" || fail "expected $code, got (exit $rc): $*"$'\n'"$out"
}

# ---------------------------------------------------------------------------------------------
# assertions

assert_eq() { # assert_eq EXPECTED ACTUAL WHAT
    [ "$1" = "$2" ] || fail "$3: expected [$1], got [$2]"
}

assert_contains() { # assert_contains HAYSTACK NEEDLE WHAT
    grep -qF -- "$2" <<<"$1" || fail "$3: [$2] not found in:"$'\n'"$1"
}

assert_not_contains() { # assert_not_contains HAYSTACK NEEDLE WHAT
    if grep -qF -- "$2" <<<"$1"; then fail "$3: [$2] unexpectedly found in:"$'\n'"$1"; fi
}

md5_of() { md5sum "$1" | awk '{print $1}'; }

file_size() { stat -c %s "$1"; }

# multipart_etag PART_FILE...: S3's multipart ETag (no quotes): md5 over the concatenated
# binary MD5s of the parts, then "-<number of parts>".
multipart_etag() {
    python3 - "$@" <<'EOF'
import hashlib, sys
digests = b""
for path in sys.argv[1:]:
    h = hashlib.md5()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    digests += h.digest()
print(f"{hashlib.md5(digests).hexdigest()}-{len(sys.argv) - 1}")
EOF
}

# assert_same_file EXPECTED ACTUAL: byte-for-byte (cmp) and MD5; prints both digests on
# a difference so the report shows whether it is truncation or corruption.
assert_same_file() {
    local a="$1" b="$2"
    [ -f "$b" ] || fail "missing file $b (expected copy of $a)"
    if ! cmp -s "$a" "$b"; then
        fail "content differs: $a ($(file_size "$a") bytes, md5 $(md5_of "$a")) vs $b ($(file_size "$b") bytes, md5 $(md5_of "$b")); first difference: $(cmp "$a" "$b" 2>&1 | head -1)"
    fi
    [ "$(md5_of "$a")" = "$(md5_of "$b")" ] || fail "md5 differs: $a vs $b"
}

# assert_same_tree EXPECTED_DIR ACTUAL_DIR: same file names and bytes (diff -r).
assert_same_tree() {
    local out
    out="$(diff -r "$1" "$2" 2>&1)" || fail "trees differ: $1 vs $2:"$'\n'"$(head -n 20 <<<"$out")"
}

# ---------------------------------------------------------------------------------------------
# test data (always generated, never committed)

# gen_file PATH BYTES: random, incompressible content so dedup can only hit on true repeats.
gen_file() {
    mkdir -p "$(dirname "$1")"
    head -c "$2" /dev/urandom >"$1"
    [ "$(file_size "$1")" -eq "$2" ] || fail "could not generate $1"
}

MiB=$((1024 * 1024))

# ---------------------------------------------------------------------------------------------
# binary, server lifecycle

# fg_locate_binary: FASTGATE_BIN, else target/release, else target/debug, else build release.
fg_locate_binary() {
    local target="${CARGO_TARGET_DIR:-$FG_REPO/target}"
    if [ -n "${FASTGATE_BIN:-}" ]; then
        [ -x "$FASTGATE_BIN" ] || fail "FASTGATE_BIN=$FASTGATE_BIN is not executable"
    elif [ -x "$target/release/fastgate" ]; then
        FASTGATE_BIN="$target/release/fastgate"
    elif [ -x "$target/debug/fastgate" ]; then
        FASTGATE_BIN="$target/debug/fastgate"
    else
        log "no fastgate binary found; cargo build --release -p fastgate"
        (cd "$FG_REPO" && cargo build --release -p fastgate) >&2 || fail "cargo build --release -p fastgate failed"
        FASTGATE_BIN="$target/release/fastgate"
    fi
    export FASTGATE_BIN
}

fg_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

fg_port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# fg_start: start the server on FG_PORT with FG_DATA_DIR (both chosen on the first start and
# kept for restarts, so a restarted server sees the same data on the same endpoint and the
# client configs stay valid). Extra arguments are passed to `fastgate serve`.
fg_start() {
    [ -n "$FG_PORT" ] || FG_PORT="$(fg_free_port)"
    [ -n "$FG_METRICS_PORT" ] || FG_METRICS_PORT="$(fg_free_port)"
    [ -n "$FG_DATA_DIR" ] || FG_DATA_DIR="$FG_TMP/data"
    mkdir -p "$FG_DATA_DIR"
    # FG_SCHEME=https for a server started with --tls-cert/--tls-key (https.sh).
    FG_ENDPOINT="${FG_SCHEME:-http}://127.0.0.1:$FG_PORT"
    export FG_ENDPOINT FG_PORT
    echo "---- fastgate serve start $(date +%T) ----" >>"$FG_LOG"
    # setsid: the server gets its own process group, so a client we SIGKILL never takes it along
    # and it never sees our terminal's Ctrl-C twice.
    # env -u: a FASTGATE_CONFIG/DOMAIN/REGION from the caller's environment must not change
    # the server under test; everything it needs is on the command line.
    env -u FASTGATE_CONFIG -u FASTGATE_DOMAIN -u FASTGATE_REGION -u FASTGATE_LISTEN -u FASTGATE_DATA_DIR \
        -u FASTGATE_METRICS_LISTEN -u FASTGATE_CONSOLE_LISTEN -u FASTGATE_TLS_CERT -u FASTGATE_TLS_KEY \
        NO_COLOR=1 RUST_LOG="${FG_RUST_LOG:-${RUST_LOG:-info}}" setsid "$FASTGATE_BIN" serve \
        --listen "127.0.0.1:$FG_PORT" \
        --metrics-listen "127.0.0.1:$FG_METRICS_PORT" \
        --console-listen "${FG_CONSOLE_LISTEN:-off}" \
        --data-dir "$FG_DATA_DIR" \
        --access-key "$FG_ACCESS_KEY" \
        --secret-key "$FG_SECRET_KEY" \
        "$@" </dev/null >>"$FG_LOG" 2>&1 &
    FG_PID=$!
    fg_wait_ready
}

fg_wait_ready() {
    for _ in $(seq 1 300); do
        if ! kill -0 "$FG_PID" 2>/dev/null; then
            FG_PID=""
            fail "fastgate exited during startup (see log)"
        fi
        if fg_port_open "$FG_PORT"; then
            log "fastgate pid $FG_PID ready at $FG_ENDPOINT"
            return 0
        fi
        sleep 0.1
    done
    fail "fastgate not listening on 127.0.0.1:$FG_PORT after 30s"
}

# fg_stop: graceful SIGTERM, escalating to SIGKILL if it hangs (a hang is reported).
fg_stop() {
    [ -n "$FG_PID" ] || return 0
    local pid="$FG_PID"
    FG_PID=""
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 1 100); do
        kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
        sleep 0.1
    done
    log "WARNING: fastgate pid $pid ignored SIGTERM for 10s; SIGKILL"
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# fg_kill9: simulate a crash (power cut for the process): no chance to flush or clean up.
fg_kill9() {
    [ -n "$FG_PID" ] || return 0
    kill -KILL "$FG_PID" 2>/dev/null || true
    wait "$FG_PID" 2>/dev/null || true
    FG_PID=""
    echo "---- fastgate killed with SIGKILL $(date +%T) ----" >>"$FG_LOG"
}

fg_restart() { fg_stop; fg_start "$@"; }
fg_crash_restart() { fg_kill9; fg_start "$@"; }

# fg_metric NAME: current value of a Prometheus counter (summed over label sets), as an integer,
# from the server's metrics listener (unauthenticated, on loopback).
fg_metric() {
    local body
    body="$(curl -fsS --max-time 10 "http://127.0.0.1:$FG_METRICS_PORT/metrics")" || fail "GET /metrics failed"
    awk -v n="$1" '
        $0 !~ /^#/ && ($1 == n || index($1, n "{") == 1) { s += $NF; found = 1 }
        END { if (!found) exit 3; printf "%.0f\n", s }' <<<"$body" \
        || fail "metric $1 not found in /metrics"
}

# ---------------------------------------------------------------------------------------------
# client configuration (all files live in FG_TMP; nothing in ~ is read or written)

# aws cli v1 and boto3: credentials via env; a private config file so ~/.aws never leaks in.
fg_config_aws() {
    export AWS_ACCESS_KEY_ID="$FG_ACCESS_KEY"
    export AWS_SECRET_ACCESS_KEY="$FG_SECRET_KEY"
    export AWS_DEFAULT_REGION="$FG_REGION"
    export AWS_REGION="$FG_REGION"
    export AWS_CONFIG_FILE="$FG_TMP/aws-config"
    export AWS_SHARED_CREDENTIALS_FILE="$FG_TMP/aws-credentials"
    export AWS_EC2_METADATA_DISABLED=true
    export AWS_PAGER=""
    unset AWS_PROFILE AWS_SESSION_TOKEN AWS_ENDPOINT_URL AWS_ENDPOINT_URL_S3 || true
    # No signature_version: requests are SigV4 either way, and this leaves `aws s3 presign`
    # on its default (SigV2 query URLs for us-east-1), which aws-cli.sh checks as such.
    cat >"$AWS_CONFIG_FILE" <<EOF
[default]
region = $FG_REGION
s3 =
    addressing_style = path
EOF
    : >"$AWS_SHARED_CREDENTIALS_FILE"
}

# awsx ARGS...: `aws` pointed at this server.
awsx() { aws --endpoint-url "$FG_ENDPOINT" "$@"; }

# s3cmd: path-style (host_bucket without %(bucket)s), plain HTTP, SigV4.
fg_config_s3cmd() {
    FG_S3CMD_CFG="$FG_TMP/s3cmd.cfg"
    cat >"$FG_S3CMD_CFG" <<EOF
[default]
access_key = $FG_ACCESS_KEY
secret_key = $FG_SECRET_KEY
host_base = 127.0.0.1:$FG_PORT
host_bucket = 127.0.0.1:$FG_PORT
bucket_location = $FG_REGION
use_https = False
check_ssl_certificate = False
signature_v2 = False
progress_meter = False
# Few retries: s3cmd otherwise retries a failing request 5 times with growing sleeps.
max_retries = 1
EOF
}

s3cmdx() { s3cmd --config="$FG_S3CMD_CFG" --no-progress "$@"; }

# rclone: remote "fg:" (provider Other, path style).
fg_config_rclone() {
    export RCLONE_CONFIG="$FG_TMP/rclone.conf"
    cat >"$RCLONE_CONFIG" <<EOF
[fg]
type = s3
provider = Other
env_auth = false
access_key_id = $FG_ACCESS_KEY
secret_access_key = $FG_SECRET_KEY
region = $FG_REGION
endpoint = $FG_ENDPOINT
force_path_style = true
EOF
}

# restic: s3 backend on this endpoint; credentials via the AWS_* env that fg_config_aws sets.
fg_config_restic() {
    export RESTIC_REPOSITORY="s3:$FG_ENDPOINT/${1:-restic}"
    export RESTIC_PASSWORD="fastgate-conformance-restic"
    export RESTIC_CACHE_DIR="$FG_TMP/restic-cache"
}

fg_config_clients() {
    fg_config_aws
    fg_config_s3cmd
    fg_config_rclone
    fg_config_restic
}

# ---------------------------------------------------------------------------------------------
# setup / teardown

fg_on_exit() { FG_CLEANUP_HOOKS+=("$*"); }

fg_cleanup() {
    local rc=$? hook
    set +e
    for hook in "${FG_CLEANUP_HOOKS[@]}"; do eval "$hook"; done
    fg_stop
    if [ -n "$FG_TMP" ] && [ -d "$FG_TMP" ]; then
        if [ "${FG_KEEP_TMP:-0}" = 1 ]; then
            log "kept temp dir $FG_TMP (server log: $FG_LOG)"
        else
            rm -rf "$FG_TMP"
        fi
    fi
    exit "$rc"
}

# fg_setup_with_keys [serve args...]: fg_setup with encryption at rest configured: an SSE-S3
# master key in a key file outside the data dir (as deploy/README.md says to keep it), and
# SSE-C accepted over the plain HTTP the scripts use (AWS wants HTTPS for it).
fg_setup_with_keys() {
    FG_KEYS_DIR="$(mktemp -d -t fastgate-keys.XXXXXX)"
    printf 'master:%s\n' "$(head -c 32 /dev/urandom | base64)" >"$FG_KEYS_DIR/keys"
    printf '[encryption]\nkey_file = "%s"\nallow_sse_c_over_http = true\n' "$FG_KEYS_DIR/keys" \
        >"$FG_KEYS_DIR/fastgate.toml"
    fg_setup --config "$FG_KEYS_DIR/fastgate.toml" "$@"
    fg_on_exit 'rm -rf "$FG_KEYS_DIR"'
}

# fg_setup [serve args...]: everything a script needs before driving clients.
fg_setup() {
    FG_TMP="$(mktemp -d -t "fastgate-${FG_SCRIPT_NAME%.*}.XXXXXX")"
    FG_LOG="$FG_TMP/fastgate.log"
    trap fg_cleanup EXIT
    trap 'exit 130' INT TERM
    fg_locate_binary
    fg_start "$@"
    fg_config_clients
}
