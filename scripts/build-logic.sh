#!/usr/bin/env bash
# Release builds of the game logic components for wasm32-wasip2: the example
# (sdk/logic/example) and the test components (tests/logic), and the JavaScript example
# (sdk/logic/example-js, by componentize-js). Safe to run again: cargo rebuilds only what
# changed, and the JavaScript one is rebuilt only when its source changed.
#
# The components land in $CARGO_TARGET_DIR/wasm32-wasip2/release/aethex_logic_<name>.wasm
# (example, hostile, noop, other_version, example_js); their sizes go to stderr.
#
# Env: CARGO_TARGET_DIR (default: ~/.cache/aethex-target, as scripts/test-all.sh), AETHEX_BUILD_JOBS (default 2),
#      AETHEX_LOGIC_TOOLS (componentize-js, from scripts/install-tools.sh; default ~/.cache/aethex-tools/npm-logic).
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=wasm32-wasip2
JOBS="${AETHEX_BUILD_JOBS:-2}"
TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/aethex-target}"
log() { printf '  [logic] %s\n' "$*" >&2; }

if ! rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
  log "rustup target add $TARGET"
  rustup target add "$TARGET" >&2
fi

# As the Spin component (scripts/build-edge-spin.sh): no debug info, stripped, optimised
# for size. These overrides apply to this cargo run only.
start=$(date +%s)
CARGO_PROFILE_RELEASE_DEBUG=false \
CARGO_PROFILE_RELEASE_STRIP=true \
CARGO_PROFILE_RELEASE_OPT_LEVEL=s \
CARGO_TARGET_DIR="$TARGET_DIR" \
  cargo build -j"$JOBS" --target "$TARGET" --release \
    -p aethex-logic-example -p aethex-logic-hostile -p aethex-logic-noop -p aethex-logic-other-version >&2
end=$(date +%s)
TOOLS_JS="${AETHEX_LOGIC_TOOLS:-$HOME/.cache/aethex-tools/npm-logic}"
JS_OUT="$TARGET_DIR/$TARGET/release/aethex_logic_example_js.wasm"
if [ ! -d "$TOOLS_JS/node_modules/@bytecodealliance/componentize-js" ]; then
  log "componentize-js is not installed in $TOOLS_JS: run scripts/install-tools.sh"; exit 1
fi
if [ ! -f "$JS_OUT" ] || [ -n "$(find sdk/logic/example-js protocol/wit -newer "$JS_OUT" -type f)" ]; then
  node sdk/logic/example-js/build.mjs "$TOOLS_JS" "$JS_OUT.tmp" && mv -f "$JS_OUT.tmp" "$JS_OUT"
fi
for name in example hostile noop other_version example_js; do
  WASM="$TARGET_DIR/$TARGET/release/aethex_logic_$name.wasm"
  [ -f "$WASM" ] || { log "build finished but $WASM is missing"; exit 1; }
  log "$name: $(wc -c <"$WASM") bytes"
done
log "built in $((end - start)) s"
