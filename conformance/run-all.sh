#!/usr/bin/env bash
# Run every conformance script against a freshly built fastgate.
#
#   conformance/run-all.sh                 # all scripts
#   conformance/run-all.sh s3cmd restic    # only these (names with or without .sh)
#
# Installs the clients (install-clients.sh), builds the release binary once (unless
# FASTGATE_BIN is set), then runs each script; each script starts its own server on a free
# loopback port with its own temp data dir, so one failure cannot cascade into the next.
# Prints one summary line per script and, last, exactly "N passed, M failed".
# Logs: $FG_RESULTS_DIR (default: a temp dir, printed at the end, kept).
set -uo pipefail # no -e: a failing script is a result to report, not a reason to stop

CONF_DIR="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$CONF_DIR/.." && pwd)"
ALL_SCRIPTS=(aws-cli.sh boto3.sh rclone.sh s3cmd.sh restic.sh instant-upload.sh https.sh browser.sh cp-proxy.sh console.sh)
SCRIPT_TIMEOUT="${FG_SCRIPT_TIMEOUT:-900}"

export CI="${CI:-true}"

pick_scripts() {
    local s
    if [ "$#" -eq 0 ]; then
        SCRIPTS=("${ALL_SCRIPTS[@]}")
        return
    fi
    SCRIPTS=()
    for s in "$@"; do
        s="${s%.sh}.sh"
        [ -f "$CONF_DIR/$s" ] || { echo "run-all.sh: no such script: $s" >&2; exit 2; }
        SCRIPTS+=("$s")
    done
}

install_clients() {
    echo "== installing clients"
    "$CONF_DIR/install-clients.sh" </dev/null || { echo "run-all.sh: install-clients.sh failed" >&2; exit 1; }
}

# Build once here so the scripts do not race each other (or time out) building it.
build_binary() {
    if [ -n "${FASTGATE_BIN:-}" ]; then
        echo "== using FASTGATE_BIN=$FASTGATE_BIN"
        return
    fi
    echo "== cargo build --release -p fastgate"
    (cd "$REPO" && cargo build --release -p fastgate) || { echo "run-all.sh: build failed" >&2; echo "0 passed, ${#SCRIPTS[@]} failed"; exit 1; }
    export FASTGATE_BIN="${CARGO_TARGET_DIR:-$REPO/target}/release/fastgate"
}

main() {
    pick_scripts "$@"
    install_clients
    build_binary
    local results_dir="${FG_RESULTS_DIR:-$(mktemp -d -t fastgate-conformance.XXXXXX)}"
    mkdir -p "$results_dir"
    local passed=0 failed=0 lines=() s rc t0 secs log
    for s in "${SCRIPTS[@]}"; do
        log="$results_dir/${s%.sh}.log"
        echo "== $s (log: $log)"
        t0=$SECONDS
        timeout --kill-after=30 "$SCRIPT_TIMEOUT" bash "$CONF_DIR/$s" </dev/null >"$log" 2>&1
        rc=$?
        secs=$((SECONDS - t0))
        if [ "$rc" -eq 0 ]; then
            passed=$((passed + 1))
            lines+=("PASS  $s (${secs}s)")
        else
            failed=$((failed + 1))
            [ "$rc" -eq 124 ] && lines+=("FAIL  $s (${secs}s, timed out after ${SCRIPT_TIMEOUT}s)") \
                || lines+=("FAIL  $s (${secs}s, exit $rc)")
            # The reason is near the end: the FAIL banner and the server log tail.
            echo "---- last 60 lines of $log ----"
            tail -n 60 "$log" | cut -c1-300
            echo "----"
        fi
    done
    echo
    echo "== summary (logs in $results_dir)"
    printf '%s\n' "${lines[@]}"
    echo "$passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}

main "$@"
