# Sourced (not run) by ./serve.sh and ./test.sh: installs the Rust toolchain pinned in
# rust-toolchain.toml when it is missing, with the components the build needs.
# rustup no longer installs a pinned toolchain on first use: without this, the first
# cargo command on a fresh machine fails with "toolchain '...' is not installed".
# Expects the current directory to be the repository root.

fastgate_toolchain=$(sed -n 's/^channel *= *"\(.*\)"/\1/p' rust-toolchain.toml)
if ! rustup toolchain list | grep -q "^${fastgate_toolchain}"; then
    echo "== installing Rust ${fastgate_toolchain}" >&2
    rustup toolchain install "${fastgate_toolchain}" --profile minimal -c rustfmt -c clippy
fi
