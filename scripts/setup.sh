#!/usr/bin/env bash
# Create .venv with Python >= 3.12 and install stackae into it.
# Usage: bash scripts/setup.sh [test|notebooks|docs]   ("test" also installs the test, data-preparation and docs
# extras, "notebooks" JupyterLab, "docs" what the documentation site is built with: mkdocs.yml)
set -euo pipefail
cd "$(dirname "$0")/.."

find_python() {
  local candidates=(python3.12 python3.13 python3.14 python3 python)
  if command -v pyenv >/dev/null 2>&1; then
    local v
    for v in $(pyenv versions --bare 2>/dev/null | grep -E '^3\.(1[2-9])(\.[0-9]+)?$' | sort -V); do
      candidates+=("$(pyenv root)/versions/$v/bin/python")
    done
  fi
  local c
  for c in "${candidates[@]}"; do
    if "$c" -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then
      echo "$c"; return 0
    fi
  done
  return 1
}

if [ ! -x .venv/bin/python ]; then
  PY=$(find_python) || { echo "error: stackae needs Python >= 3.12; install it (e.g. python3.12) and re-run." >&2; exit 1; }
  "$PY" -m venv .venv
fi
extras=""
if [ "${1:-}" = "test" ]; then extras="[test]"; fi
if [ "${1:-}" = "notebooks" ]; then extras="[notebooks]"; fi
if [ "${1:-}" = "docs" ]; then extras="[docs]"; fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".${extras}"
