#!/usr/bin/env bash
# Release build of the Spin edge component (edge/spin, crate aethex-edge-spin) for
# wasm32-wasip2. Safe to run again: cargo rebuilds only what changed.
#
# Prints the artifact path on stdout (last line), and its raw and gzipped size on stderr:
#   WASM="$(bash scripts/build-edge-spin.sh)"
#   bash scripts/build-edge-spin.sh --out target/spin/aethex_edge_spin.wasm   # also copy it
#     there (spin.toml's build command: the manifest's `source` then does not depend
#     on CARGO_TARGET_DIR)
#
# Env: CARGO_TARGET_DIR (default: ~/.cache/aethex-target, as scripts/test-all.sh), AETHEX_BUILD_JOBS (default 2),
#      EXTRA_FEATURES (e.g. "spin-kv" for a Spin-only build with the key-value cache).
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=wasm32-wasip2
JOBS="${AETHEX_BUILD_JOBS:-2}"
TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/aethex-target}"
export CARGO_TARGET_DIR="$TARGET_DIR"
log() { printf '  [edge-spin] %s\n' "$*" >&2; }

OUT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --out) OUT="${2:?--out needs a path}"; shift 2 ;;
    *) log "unknown argument: $1 (usage: build-edge-spin.sh [--out PATH])"; exit 2 ;;
  esac
done

if ! rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
  log "rustup target add $TARGET"
  rustup target add "$TARGET" >&2
fi

FEATURES=()
if [ -n "${EXTRA_FEATURES:-}" ]; then FEATURES=(--features "$EXTRA_FEATURES"); fi

# The workspace release profile keeps line tables (for the native binaries). For the
# component, size matters more: no debug info, stripped, LTO, optimised for size. These
# overrides apply to this cargo run only; wasm32-wasip2 output is used by nothing else.
start=$(date +%s)
CARGO_PROFILE_RELEASE_DEBUG=false \
CARGO_PROFILE_RELEASE_STRIP=true \
CARGO_PROFILE_RELEASE_LTO=true \
CARGO_PROFILE_RELEASE_OPT_LEVEL=s \
CARGO_PROFILE_RELEASE_CODEGEN_UNITS=1 \
CARGO_TARGET_DIR="$TARGET_DIR" \
  cargo build -j"$JOBS" -p aethex-edge-spin --target "$TARGET" --release "${FEATURES[@]}" >&2
end=$(date +%s)

WASM="$TARGET_DIR/$TARGET/release/aethex_edge_spin.wasm"
if [ ! -f "$WASM" ]; then
  log "build finished but $WASM is missing" && exit 1
fi
RAW=$(wc -c <"$WASM")
GZ=$(gzip -9c "$WASM" | wc -c)
log "built in $((end - start)) s: $RAW bytes raw, $GZ bytes gzipped${EXTRA_FEATURES:+ (features: $EXTRA_FEATURES)}"
if [ -n "$OUT" ]; then
  mkdir -p "$(dirname "$OUT")"
  cp -f "$WASM" "$OUT.tmp" && mv -f "$OUT.tmp" "$OUT"
  WASM="$(cd "$(dirname "$OUT")" && pwd)/$(basename "$OUT")"
fi
echo "$WASM"
