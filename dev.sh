#!/usr/bin/env bash
# One entry point for the README's two commands:
#   bash dev.sh demo   set up .venv (if missing) and train the default model on the offline digits
#   bash dev.sh test   set up .venv (if missing) and run the whole test suite
set -euo pipefail
cd "$(dirname "$0")"
VENV=.venv
PY="$VENV/bin/python"

setup() {
  if [ ! -x "$PY" ] || ! "$PY" -c "import nbtrain, torch, torchvision, pytest" >/dev/null 2>&1 \
     || [ pyproject.toml -nt "$VENV/.nbtrain-installed" ]; then
    echo "== setting up $VENV (torch + torchvision, the project, test tools) =="
    [ -x "$PY" ] || python3 -m venv "$VENV"
    "$PY" -m pip install -q --upgrade pip
    "$PY" -m pip install -q -c constraints.txt -e ".[dev]"
    touch "$VENV/.nbtrain-installed"
  fi
}

cmd="${1:-demo}"; shift || true
case "$cmd" in
  demo) setup; exec "$VENV/bin/nbtrain" demo "$@" ;;
  test) setup; exec "$PY" -m pytest "$@" ;;
  setup) setup ;;
  *) echo "usage: bash dev.sh demo|test|setup [args]" >&2; exit 2 ;;
esac
