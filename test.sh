#!/usr/bin/env bash
# Runs every test of fastgate on a fresh machine: installs what is missing (the pinned
# Rust toolchain, the real S3 clients), then formatting, lints, unit and integration
# tests (which start the real binary on loopback), and the real-client conformance suite.
set -euo pipefail
cd "$(dirname "$0")"

. scripts/toolchain.sh

# PostgreSQL's server programs (Debian's package) for the postgres metadata engine's
# tests: the tests start a server of their own in a temp dir and stop it at the end.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    echo "== installing postgresql"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
fi

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo test"
cargo test --workspace
echo "== cargo test, integration tests again on the fjall metadata engine"
FASTGATE_META_ENGINE=fjall cargo test --workspace --tests
echo "== cargo test, integration tests again on the postgres metadata engine"
FASTGATE_META_ENGINE=postgres cargo test -p fastgate --tests
echo "== conformance (real clients)"
# `cargo test` above built the server for the integration tests; a separate `cargo build`
# would rebuild a dozen crates with other features for the same binary.
bin="${CARGO_TARGET_DIR:-$PWD/target}/debug/fastgate"
[ -x "$bin" ] || cargo build -p fastgate
FASTGATE_BIN="$bin" bash conformance/run-all.sh
echo "== conformance (real clients) again on the fjall metadata engine"
# The clients whose work is metadata (listings, multipart, versions, dedup); TLS, the
# browser pages and cp's transport were just run, and the engine is not theirs to test.
# aws-cli.sh (three minutes of one Python start per call) runs once: the integration
# suite has already driven every engine through the same S3 operations.
FASTGATE_META_ENGINE=fjall FASTGATE_BIN="$bin" bash conformance/run-all.sh \
    boto3.sh rclone.sh s3cmd.sh restic.sh instant-upload.sh
