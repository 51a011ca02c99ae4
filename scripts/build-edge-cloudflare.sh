#!/usr/bin/env bash
# Builds the Cloudflare Workers edge (edge/cloudflare, release) with worker-build into
#   ${AETHEX_CF_OUT_DIR:-$CARGO_TARGET_DIR/edge-cloudflare}
# (index.js + index_bg.wasm; worker/shim.mjs re-exports index.js). Safe to run again:
# cargo decides what is stale, and worker-build (wasm-bindgen, wasm-opt, esbuild) runs only
# when the compiled .wasm or the tools changed. `--force` runs it anyway.
#
# Tools (see scripts/install-tools.sh; nothing is downloaded when they are present):
#   WORKER_BUILD_BIN  worker-build 0.8.x   (default $AETHEX_TOOLS_DIR/cargo/bin/worker-build)
#   WASM_BINDGEN_BIN  wasm-bindgen CLI, the version in Cargo.lock (default .../cargo/bin/wasm-bindgen)
#   WASM_OPT_BIN      binaryen wasm-opt    (default npm-edge's binaryen; without one: --no-opt)
#   ESBUILD_BIN       esbuild              (default npm-edge's, the one wrangler uses)
#
# stdout, one `key=value` a line: main (the worker's entry module, what wrangler's `main`
# points at), wasm, wasm_bytes, wasm_gzip_bytes. Progress goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

FORCE=0
for a in "$@"; do
  case "$a" in
    --force) FORCE=1 ;;
    *) echo "usage: $0 [--force]" >&2; exit 2 ;;
  esac
done

log() { printf '  [edge-cloudflare] %s\n' "$*" >&2; }

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/aethex-target}"
mkdir -p "$CARGO_TARGET_DIR"
CARGO_TARGET_DIR="$(cd "$CARGO_TARGET_DIR" && pwd)"
export CARGO_BUILD_JOBS="${AETHEX_BUILD_JOBS:-2}"
OUT="${AETHEX_CF_OUT_DIR:-$CARGO_TARGET_DIR/edge-cloudflare}"
case "$OUT" in /*) ;; *) OUT="$ROOT/$OUT" ;; esac
mkdir -p "$OUT"

TOOLS="${AETHEX_TOOLS_DIR:-$HOME/.cache/aethex-tools}"
NPM_EDGE="$TOOLS/npm-edge/node_modules"
WORKER_BUILD="${WORKER_BUILD_BIN:-$TOOLS/cargo/bin/worker-build}"
export WASM_BINDGEN_BIN="${WASM_BINDGEN_BIN:-$TOOLS/cargo/bin/wasm-bindgen}"
for t in "$WORKER_BUILD" "$WASM_BINDGEN_BIN"; do
  [ -x "$t" ] || { echo "$t not found: run scripts/install-tools.sh" >&2; exit 1; }
done

# worker-build downloads wasm-bindgen from GitHub unless the CLI matches Cargo.lock exactly.
LOCKED_BINDGEN="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)"
CLI_BINDGEN="$("$WASM_BINDGEN_BIN" --version | awk '{ print $2 }')"
if [ "$LOCKED_BINDGEN" != "$CLI_BINDGEN" ]; then
  echo "wasm-bindgen CLI $CLI_BINDGEN at $WASM_BINDGEN_BIN, but Cargo.lock has $LOCKED_BINDGEN" >&2
  exit 1
fi

OPT_ARGS=()
if [ -z "${WASM_OPT_BIN:-}" ] && [ -x "$NPM_EDGE/binaryen/bin/wasm-opt" ]; then
  export WASM_OPT_BIN="$NPM_EDGE/binaryen/bin/wasm-opt"
fi
if [ -z "${WASM_OPT_BIN:-}" ]; then
  log "no wasm-opt (WASM_OPT_BIN): building with --no-opt"
  OPT_ARGS=(--no-opt)
fi
if [ -z "${ESBUILD_BIN:-}" ] && [ -x "$NPM_EDGE/@esbuild/linux-x64/bin/esbuild" ]; then
  export ESBUILD_BIN="$NPM_EDGE/@esbuild/linux-x64/bin/esbuild"
fi

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown >&2
fi

# worker-build sets this for its cargo call; cargo does not track it, so set it for ours too.
export WASM_BINDGEN_USE_JS_SYS=1

# Size over speed for this one artifact, without touching the workspace's release profile
# (measured: 1.69 MB / 610 KB gzipped with it, 1.15 MB / 443 KB with these). Override any
# of them from the environment.
export CARGO_PROFILE_RELEASE_OPT_LEVEL="${CARGO_PROFILE_RELEASE_OPT_LEVEL:-s}"
export CARGO_PROFILE_RELEASE_LTO="${CARGO_PROFILE_RELEASE_LTO:-fat}"
export CARGO_PROFILE_RELEASE_CODEGEN_UNITS="${CARGO_PROFILE_RELEASE_CODEGEN_UNITS:-1}"
export CARGO_PROFILE_RELEASE_DEBUG="${CARGO_PROFILE_RELEASE_DEBUG:-false}"

# One build at a time per output folder (tests may start several workers at once).
exec 9>"$OUT/.build-lock"
flock 9

START=$(date +%s)
log "cargo build (release, wasm32-unknown-unknown)"
(cd edge/cloudflare && cargo build --lib --release --target wasm32-unknown-unknown --quiet >&2)
RAW="$CARGO_TARGET_DIR/wasm32-unknown-unknown/release/aethex_edge_cloudflare.wasm"
STAMP="$(sha256sum "$RAW" | cut -d' ' -f1) worker-build=$("$WORKER_BUILD" --version) bindgen=$CLI_BINDGEN opt=${WASM_OPT_BIN:-none}"

if [ "$FORCE" = 0 ] && [ -f "$OUT/.aethex-stamp" ] && [ "$(cat "$OUT/.aethex-stamp")" = "$STAMP" ] \
   && [ -f "$OUT/index.js" ] && [ -f "$OUT/index_bg.wasm" ] && [ -f "$OUT/worker/shim.mjs" ]; then
  log "worker up to date"
else
  rm -f "$OUT/.aethex-stamp"
  log "worker-build --release --out-dir $OUT ${OPT_ARGS[*]:-}"
  (cd edge/cloudflare && "$WORKER_BUILD" --release --out-dir "$OUT" "${OPT_ARGS[@]}" >&2)
  echo "$STAMP" > "$OUT/.aethex-stamp"
fi
log "done in $(( $(date +%s) - START )) s"

WASM="$OUT/index_bg.wasm"
echo "main=$OUT/index.js"
echo "wasm=$WASM"
echo "wasm_bytes=$(wc -c < "$WASM")"
echo "wasm_gzip_bytes=$(gzip -9c "$WASM" | wc -c)"
