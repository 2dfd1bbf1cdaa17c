#!/usr/bin/env bash
# The Colab profile (issue 22): .venv-colab, a venv with the Python that Colab runs (3.13, else 3.12, from pyenv or
# PATH), Colab's front-end pins (tests/colab/pins.txt), torch + torchvision (constraints.txt's pair), the test tools,
# and nbtrain installed as users install it: `python -m build` makes the sdist and, from it, the wheel; the wheel is
# installed (not editable), with its dependencies, under the pins as constraints: a floor that would move one of
# Colab's pins makes this script fail with pip's own message.
#
#   bash tools/colab_venv.sh      build .venv-colab if missing or stale, then reinstall nbtrain from a fresh build
#
# torch's CUDA libraries (nvidia-*, 3.2 GB unpacked, the same py3-none wheels for every Python) are hard-linked from
# the main venv ($NBTRAIN_MAIN_VENV, default .venv) where it has them; without that, pip installs them (~3 more
# minutes here). The rest is plain pip. Timings: /work/notes/22-colab.md.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=.venv-colab
PINS=tests/colab/pins.txt
MAIN=${NBTRAIN_MAIN_VENV:-.venv}
DIST=$VENV/dist
TOOLS=(pytest pytest-timeout nbclient nbformat build)   # the browser tests drive it from .venv (playwright)

colab_python() {      # the Python Colab runs (3.12 or 3.13; the issue measured 3.13): the newest of the two found
  local v p
  for v in 3.13 3.12; do
    for p in $(ls -d "${PYENV_ROOT:-$HOME/.pyenv}"/versions/$v.* 2>/dev/null | sort -V -r); do
      if [ -x "$p/bin/python$v" ]; then echo "$p/bin/python$v"; return 0; fi
    done
    if command -v "python$v" >/dev/null; then command -v "python$v"; return 0; fi
  done
  return 1
}

pip_in() {   # pip in .venv-colab, without the notes this machine's pip config prints for its local indexes
  "$VENV/bin/python" -m pip "$@" 2> >(grep -v "is ignored: it is neither a file nor a directory" >&2)
}

site_of() { "$1/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])'; }

build_base() {   # $1: the interpreter
  rm -rf "$VENV"
  "$1" -m venv "$VENV"
  if [ -x "$MAIN/bin/python" ]; then
    echo "== linking torch's CUDA libraries from $MAIN =="
    if ! "$VENV/bin/python" tools/colab_links.py "$(site_of "$MAIN")" "$(site_of "$VENV")" | tr '\n' ' '; then
      rm -rf "$VENV"; "$1" -m venv "$VENV"      # half-linked dists would look installed: start clean
    fi
    echo
  fi
  echo "== installing Colab's pins, torch, torchvision and the test tools into $VENV =="
  pip_in install -q -c constraints.txt -r "$PINS" torch torchvision "${TOOLS[@]}"
}

install_nbtrain() {
  echo "== building nbtrain's sdist and, from it, the wheel; installing the wheel into $VENV =="
  rm -rf "$DIST"
  "$VENV/bin/python" -m build --outdir "$DIST" . >"$VENV/build.log" 2>&1 || { cat "$VENV/build.log" >&2; return 1; }
  pip_in uninstall -q -y nbtrain >/dev/null 2>&1 || true
  pip_in install -q -c constraints.txt -c "$PINS" "$DIST"/nbtrain-*.whl
}

PY=$(colab_python) || { echo "colab_venv: no Python 3.13 or 3.12 (pyenv install 3.13, or put python3.13 on PATH)" >&2
                        exit 1; }
# what the base venv is made of; a change rebuilds it (nbtrain itself is reinstalled on every run)
STAMP="$("$PY" --version 2>&1) ${TOOLS[*]} $(cat "$PINS" constraints.txt | sha256sum)"
if [ "$(cat "$VENV/.colab-stamp" 2>/dev/null)" != "$STAMP" ] || ! "$VENV/bin/python" -c "import torch" 2>/dev/null; then
  SECONDS=0
  build_base "$PY"
  echo "$STAMP" >"$VENV/.colab-stamp"
  echo "== $VENV built in $SECONDS s =="
fi
SECONDS=0
install_nbtrain
echo "== nbtrain built and installed in $SECONDS s =="
"$VENV/bin/python" -I -c 'import sys, torch, ipywidgets, ipykernel, notebook, nbtrain
print(f"{sys.prefix}: Python {sys.version.split()[0]}, torch {torch.__version__}, ipywidgets {ipywidgets.__version__},",
      f"ipykernel {ipykernel.__version__}, notebook {notebook.__version__}, nbtrain from {nbtrain.__file__}")'
