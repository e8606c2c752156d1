#!/usr/bin/env bash
# Runs every burnstand test on a fresh Debian machine: installs what is missing (system
# packages, cargo-nextest), then lints and runs the whole workspace against a real MIT KDC and
# real xorriso. This is the README's test command; .ci/run calls exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh

if ! cargo nextest --version >/dev/null 2>&1; then
  echo "test: installing cargo-nextest" >&2
  cargo install --locked cargo-nextest
fi

echo "== format" >&2
cargo fmt --all -- --check

echo "== clippy" >&2
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== wire's sans-I/O core alone (codec, framing, GSS state machines: no async runtime)" >&2
cargo build -p burnstand-wire --no-default-features --locked

echo "== tests (one process per test: each test owns its Kerberos environment)" >&2
cargo nextest run --workspace --locked --no-fail-fast --profile ci

echo "== doc tests" >&2
cargo test --workspace --locked --doc

echo "== fuzz corpus replay (fuzz/ is outside the workspace; its targets also build on stable)" >&2
cargo test --manifest-path fuzz/Cargo.toml --locked
cargo build --manifest-path fuzz/Cargo.toml --locked --bins

echo "== packages: build the .debs, install them, check binaries and units, purge (scripts/package-test.sh)" >&2
if [ "$(id -u)" -eq 0 ]; then
  bash scripts/package-test.sh
else
  echo "test: the package install test needs root (dpkg -i on a throwaway machine): skipped" >&2
fi
