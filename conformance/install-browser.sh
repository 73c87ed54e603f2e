#!/usr/bin/env bash
# Install what the browser tests need: Debian's Chromium (/usr/bin/chromium) and
# Playwright's driver library (`playwright-core`, which drives an installed browser and
# downloads none) into conformance/browser/node_modules from the committed lock file.
# Idempotent; silent on success, the installers' output shown only when something fails.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
here="$(cd "$(dirname "$0")" && pwd)"
LOG="$(mktemp -t fastgate-install-browser.XXXXXX.log)"
trap 'rm -f "$LOG"' EXIT

die() {
    echo "install-browser.sh: FAILED: $*" >&2
    echo "---- installer output ----" >&2
    cat "$LOG" >&2 || true
    exit 1
}

if ! [ -x /usr/bin/chromium ]; then
    apt-get update -qq >>"$LOG" 2>&1 || die "apt-get update"
    apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >>"$LOG" 2>&1 \
        || die "apt-get install chromium"
    [ -x /usr/bin/chromium ] || die "/usr/bin/chromium missing after apt-get install"
fi

command -v node >/dev/null 2>&1 || die "no node on PATH (the machine's Node.js runs the browser tests)"
if ! [ -d "$here/browser/node_modules/playwright-core" ]; then
    # PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD: the tests use Debian's Chromium; nothing else is fetched.
    (cd "$here/browser" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund) >>"$LOG" 2>&1 \
        || die "npm ci in conformance/browser"
fi
