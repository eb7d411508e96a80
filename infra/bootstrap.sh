#!/usr/bin/env bash
# Creates .venv from uv.lock with a pinned uv, both cached outside the repo.
# Idempotent: a second run only checks that the environment matches the lock.
set -euo pipefail
cd "$(dirname "$0")/.."
CACHE="${SKYRISK_CACHE_DIR:-$HOME/.cache/skyrisk}"
UV_VERSION="$(sed -n 's/^uv = "\([^"]*\)".*/\1/p' infra/versions.toml)"
UV_HOME="$CACHE/tools/uv-$UV_VERSION"
export UV_CACHE_DIR="$CACHE/uv"

command -v python3 >/dev/null || { echo "error: python3 (3.11) is not installed" >&2; exit 1; }
if [ ! -x "$UV_HOME/bin/uv" ]; then
  echo "[setup] uv $UV_VERSION: installing into $UV_HOME"
  python3 -m venv "$UV_HOME"
  "$UV_HOME/bin/pip" install --quiet --disable-pip-version-check "uv==$UV_VERSION"
fi
echo "[setup] python environment: syncing .venv with uv.lock"
"$UV_HOME/bin/uv" sync --frozen --quiet
