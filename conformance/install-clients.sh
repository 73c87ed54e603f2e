#!/usr/bin/env bash
# Install the real S3 clients the conformance scripts drive:
#   - aws cli v1 (`awscli`) and boto3 from PyPI, into the active python3 (pyenv CPython 3.11)
#   - rclone, s3cmd, restic from Debian's packages
# Idempotent: only what is missing is installed, and nothing is printed on success
# (the installers' chatter goes to a log that is shown only when something fails).
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
export PIP_DISABLE_PIP_VERSION_CHECK=1

LOG="$(mktemp -t fastgate-install-clients.XXXXXX.log)"
trap 'rm -f "$LOG"' EXIT

die() {
    echo "install-clients.sh: FAILED: $*" >&2
    echo "---- installer output ----" >&2
    cat "$LOG" >&2 || true
    exit 1
}

python_bin() {
    # pyenv's shim when present, so packages land in the interpreter the scripts use.
    command -v python3 || command -v python || die "no python3 on PATH"
}

have_py_module() {
    "$(python_bin)" -c "import $1" >/dev/null 2>&1
}

install_pip_packages() {
    local missing=()
    # aws cli v1 is the `awscli` package; `aws --version` proves both the module and the entry point.
    if ! command -v aws >/dev/null 2>&1 || ! aws --version >/dev/null 2>&1 || ! have_py_module awscli; then
        missing+=(awscli)
    fi
    have_py_module boto3 || missing+=(boto3)
    [ "${#missing[@]}" -eq 0 ] && return 0
    "$(python_bin)" -m pip install -q "${missing[@]}" >>"$LOG" 2>&1 || die "pip install ${missing[*]}"
    # pyenv needs a rehash so the freshly installed `aws` entry point gets a shim.
    if command -v pyenv >/dev/null 2>&1; then pyenv rehash >>"$LOG" 2>&1 || true; fi
    hash -r
    command -v aws >/dev/null 2>&1 || die "aws not on PATH after pip install"
}

install_apt_packages() {
    local missing=() pkg
    for pkg in rclone s3cmd restic curl; do
        command -v "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
    done
    [ "${#missing[@]}" -eq 0 ] && return 0
    # apt-get update once per run, and only when something has to be installed.
    apt-get update -qq >>"$LOG" 2>&1 || die "apt-get update"
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$LOG" 2>&1 \
        || die "apt-get install ${missing[*]}"
    for pkg in "${missing[@]}"; do
        command -v "$pkg" >/dev/null 2>&1 || die "$pkg not on PATH after apt-get install"
    done
}

main() {
    install_pip_packages
    install_apt_packages
}

main "$@"
