#!/usr/bin/env bash
# One entry point for the README's two commands:
#   bash dev.sh demo   set up .venv (if missing) and train the default model on the offline digits
#   bash dev.sh test   set up .venv (if missing) and run the whole test suite: the tests that may run side by side
#                      on every core (pytest-xdist), then those that run alone (tests/conftest.py: SERIAL);
#                      with test paths (bash dev.sh test tests/test_x.py -k y) one plain pytest run
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

run_tests() {
  local arg
  for arg in "$@"; do
    case "$arg" in tests*|*.py|*::*) exec "$PY" -m pytest "$@" ;; esac
  done
  local cores rc rc1 rc2 rc3
  cores=$("$PY" -c "import os; print(len(os.sched_getaffinity(0)))")
  set +e
  echo "== part 1 of 3: the in-process tests and the notebooks, side by side ($cores processes) =="
  "$PY" -m pytest -n "$cores" --dist loadfile --part parallel "$@"; rc1=$?
  echo "== part 2 of 3: the tests that start and signal processes, in two lanes side by side (lane 2's output follows lane 1's) =="
  local lane2
  lane2=$(mktemp)
  "$PY" -m pytest --part processes --lane 2 "$@" >"$lane2" 2>&1 &
  local pid2=$!
  "$PY" -m pytest --part processes --lane 1 "$@"; rc2=$?
  wait "$pid2"; local rc2b=$?
  echo "== part 2 of 3, lane 2 =="
  cat "$lane2"; rm -f "$lane2"
  if [ "$rc2" -eq 0 ] || [ "$rc2" -eq 5 ]; then rc2=$rc2b; fi
  echo "== part 3 of 3: the tests that run alone (the browser) =="
  "$PY" -m pytest --part alone "$@"; rc3=$?
  set -e
  # pytest's 5 is "no test ran": a failure only when no part ran one
  for rc in "$rc1" "$rc2" "$rc3"; do
    if [ "$rc" -ne 0 ] && [ "$rc" -ne 5 ]; then return "$rc"; fi
  done
  if [ "$rc1" -eq 5 ] && [ "$rc2" -eq 5 ] && [ "$rc3" -eq 5 ]; then return 5; fi
  return 0
}

cmd="${1:-demo}"; shift || true
case "$cmd" in
  demo) setup; exec "$VENV/bin/nbtrain" demo "$@" ;;
  test) setup; run_tests "$@" ;;
  setup) setup ;;
  *) echo "usage: bash dev.sh demo|test|setup [args]" >&2; exit 2 ;;
esac
