#!/usr/bin/env bash
# Starts a fastgate server from this checkout on a fresh machine: installs the pinned
# Rust toolchain when missing, then `cargo run --release -p fastgate -- serve` with
# any arguments given (see `./serve.sh --help`).
set -euo pipefail
cd "$(dirname "$0")"
. scripts/toolchain.sh
exec cargo run --release -p fastgate -- serve "$@"
