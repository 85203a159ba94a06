#!/usr/bin/env bash
# Runs checkov on terraform/ with .config/.checkov.yml, from its own virtual
# environment: checkov 3.3 pins a boto3 older than moto needs, so it cannot live in
# .venv. The environment is (re)made from scripts/requirements-checkov.txt when that
# file changes.
#
#   scripts/checkov.sh                 # scan; exit 1 when any check fails
#   scripts/checkov.sh --install-only  # only make sure the environment exists
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${CHECKOV_VENV:-.venv-checkov}"
REQUIREMENTS="scripts/requirements-checkov.txt"
PYTHON_BIN="${PYTHON_BIN:-$(command -v python3.11 || command -v python3)}"
STAMP="$VENV/.installed-$(sha256sum "$REQUIREMENTS" | cut -c1-16)"

if [[ ! -f "$STAMP" ]]; then
  echo "checkov: creating $VENV from $REQUIREMENTS (once)" >&2
  rm -rf "$VENV"
  "$PYTHON_BIN" -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$REQUIREMENTS"
  touch "$STAMP"
fi

if [[ "${1:-}" == "--install-only" ]]; then
  echo "checkov: $("$VENV/bin/checkov" --version) ready in $VENV"
  exit 0
fi

exec "$VENV/bin/checkov" --config-file .config/.checkov.yml "$@"
