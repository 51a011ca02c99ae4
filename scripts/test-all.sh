#!/usr/bin/env bash
# Runs every test of the workspace. Installs what the tests need first (idempotent,
# quick when already present). Used by the README and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/aethex-target}"
export CARGO_TERM_COLOR="${CARGO_TERM_COLOR:-never}"
JOBS="${AETHEX_BUILD_JOBS:-2}"
export AETHEX_BUILD_JOBS="$JOBS"

step() { printf '\n==> %s\n' "$*"; }

step "toolchain targets and components"
for t in wasm32-unknown-unknown wasm32-wasip1 wasm32-wasip2; do
  if ! rustup target list --installed | grep -qx "$t"; then
    rustup target add "$t"
  fi
done
for c in clippy rustfmt; do
  if ! rustup component list --installed | grep -q "^$c"; then
    rustup component add "$c"
  fi
done

step "npm tools of the tests (pinned, installed outside the clone)"
NPM_DIR="${AETHEX_NPM_DIR:-$HOME/.cache/aethex-tools/npm}"
mkdir -p "$NPM_DIR"
if ! cmp -s tests/oauth/package-lock.json "$NPM_DIR/package-lock.json" || [ ! -d "$NPM_DIR/node_modules/oauth2-mock-server" ]; then
  cp tests/oauth/package.json tests/oauth/package-lock.json "$NPM_DIR/"
  (cd "$NPM_DIR" && npm ci --no-audit --no-fund --loglevel=error)
fi
export AETHEX_NPM_DIR="$NPM_DIR"

# Debian packages the tests start, installed once (the package index is refreshed only
# when a first try fails).
apt_install() { # command package
  command -v "$1" > /dev/null && return
  local SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get install -y --no-install-recommends "$2" > /dev/null 2>&1 \
    || { $SUDO apt-get update > /dev/null && $SUDO apt-get install -y --no-install-recommends "$2" > /dev/null; }
}

step "cluster engines: Debian redis-server and haproxy (sqld comes with the tools above)"
apt_install redis-server redis-server
apt_install haproxy haproxy

step "browser tests: Debian Chromium, Godot 4.6 web runtime and playwright-core (pinned)"
apt_install "${AETHEX_CHROMIUM:-/usr/bin/chromium}" chromium
WEB_DIR="${AETHEX_WEB_TOOLS:-$HOME/.cache/aethex-tools/npm-web}"
mkdir -p "$WEB_DIR"
if ! cmp -s tests/godot/package-lock.json "$WEB_DIR/package-lock.json" || [ ! -d "$WEB_DIR/node_modules/playwright-core" ]; then
  cp tests/godot/package.json tests/godot/package-lock.json "$WEB_DIR/"
  (cd "$WEB_DIR" && npm ci --no-audit --no-fund --loglevel=error --ignore-scripts)
fi
export AETHEX_WEB_TOOLS="$WEB_DIR"

step "edge runtimes and build tools (pinned, installed once per machine)"
eval "$(bash scripts/install-tools.sh)"

step "protocol and edge core build for wasm32 (edge workers share them)"
cargo build -j"$JOBS" -p aethex-protocol -p aethex-edge --target wasm32-unknown-unknown
cargo build -j"$JOBS" -p aethex-edge --target wasm32-wasip1
cargo build -j"$JOBS" -p aethex-edge --target wasm32-wasip2

step "edge wasm builds the tests run"
bash scripts/build-edge-spin.sh
bash scripts/build-edge-fastly.sh
bash scripts/build-edge-cloudflare.sh

step "game logic components (sdk/logic/example, tests/logic) for wasm32-wasip2"
bash scripts/build-logic.sh

step "formatting and lints (rustfmt, clippy with warnings as errors, host and wasm adapters)"
cargo fmt --all --check
cargo clippy -j"$JOBS" --all-targets -- -D warnings
cargo clippy -j"$JOBS" -p aethex-edge-spin --target wasm32-wasip2 -- -D warnings
cargo clippy -j"$JOBS" --target wasm32-wasip2 -p aethex-logic -p aethex-logic-example -p aethex-logic-hostile -p aethex-logic-noop -p aethex-logic-other-version -- -D warnings
cargo clippy -j"$JOBS" -p aethex-edge-fastly --target wasm32-wasip1 -- -D warnings
cargo clippy -j"$JOBS" -p aethex-edge-cloudflare --target wasm32-unknown-unknown -- -D warnings

step "deployment files (Dockerfile, Kubernetes manifests, Grafana dashboard)"
bash scripts/check-deploy.sh

step "build binaries the end-to-end tests start"
cargo build -j"$JOBS" --bins

step "tests"
cargo test -j"$JOBS" --no-fail-fast

step "end-to-end suites again with origin on a libSQL server (sqld) instead of the local file"
AETHEX_TEST_DB=sqld cargo test -j"$JOBS" -p aethex-tests --test e2e -- auth:: saves:: leaderboards:: matchmaking:: dlc:: analytics::
