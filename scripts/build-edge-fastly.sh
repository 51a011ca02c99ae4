#!/usr/bin/env bash
# Release build of the Fastly Compute edge (edge/fastly) for wasm32-wasip1.
# Idempotent: cargo rebuilds only what changed. Prints the artifact's path and its raw
# and gzipped sizes. The profile overrides match `[scripts]` in edge/fastly/fastly.toml
# (no debug info: the workspace's release profile keeps line tables, which would make
# the module ~6x larger).
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/aethex-target}"
export CARGO_PROFILE_RELEASE_DEBUG=0
export CARGO_PROFILE_RELEASE_STRIP=debuginfo
TARGET=wasm32-wasip1

if ! rustup target list --installed | grep -qx "$TARGET"; then
  rustup target add "$TARGET" >&2
fi

cargo build -j"${AETHEX_BUILD_JOBS:-2}" -p aethex-edge-fastly --target "$TARGET" --release >&2

WASM="$CARGO_TARGET_DIR/$TARGET/release/aethex-edge-fastly.wasm"
RAW=$(wc -c <"$WASM")
GZ=$(gzip -9c "$WASM" | wc -c)
echo "$WASM"
echo "size: $RAW bytes raw, $GZ bytes gzipped"
