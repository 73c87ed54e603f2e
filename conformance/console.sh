#!/usr/bin/env bash
# The web console in headless Chromium (Debian's chromium driven by playwright-core,
# installed by install-browser.sh when missing): sign in, upload a file, upload the same
# bytes under another name (instant: the server receives nothing), a 40 MiB upload in
# 5 MiB parts interrupted by a page reload and resumed after the file is selected again
# (the server receives the file once, plus at most one part), download and compare; the
# bytes are counted by the server's fastgate_request_body_bytes_total. See
# browser/console.js for the steps.
#
# The screenshots land in the temp dir; FG_UPDATE_SCREENSHOTS=1 copies them to
# docs/console.png and docs/dedup.png (shown in README.md).
set -euo pipefail
source "$(dirname "$0")/lib.sh"

main() {
    "$FG_CONF_DIR/install-browser.sh" </dev/null || fail "install-browser.sh"
    FG_CONSOLE_LISTEN="127.0.0.1:$(fg_free_port)"
    fg_setup
    local work="$FG_TMP/work" shots="$FG_TMP/shots"
    mkdir -p "$work/again" "$shots"
    gen_file "$work/photo.jpg" $((3 * MiB + 123))
    cp "$work/photo.jpg" "$work/again/photo-copy.jpg"
    gen_file "$work/video.mp4" $((40 * MiB + 77))
    python3 - "$work/config.json" <<PY
import json, sys
json.dump({
    "consoleUrl": "http://$FG_CONSOLE_LISTEN",
    "metricsUrl": "http://127.0.0.1:$FG_METRICS_PORT/metrics",
    "accessKey": "$FG_ACCESS_KEY",
    "secretKey": "$FG_SECRET_KEY",
    "bucket": "console",
    "partMiB": 5,
    "small": "$work/photo.jpg", "smallCopy": "$work/again/photo-copy.jpg", "smallSize": $((3 * MiB + 123)),
    "big": "$work/video.mp4", "bigSize": $((40 * MiB + 77)),
    "workDir": "$work", "shotsDir": "$shots",
}, open(sys.argv[1], "w"))
PY
    step "the console in headless Chromium"
    local result
    result="$(cd "$FG_CONF_DIR/browser" && timeout 180 node console.js "$work/config.json")" \
        || fail "the browser test failed (output above)"
    log "measured: $result"
    if [ "${FG_UPDATE_SCREENSHOTS:-0}" = 1 ]; then
        cp "$shots/console.png" "$shots/dedup.png" "$FG_REPO/docs/"
        log "screenshots copied to docs/"
    fi
    fg_pass
}

main "$@"
