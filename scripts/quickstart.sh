#!/usr/bin/env bash
# Set up a virtualenv (.venv) with the CPU build of PyTorch and nasrec-lab, then run
#   demo  - the main job on the embedded synthetic data set
#   test  - the whole test suite (two pytest workers, one test file per worker at a time:
#           module fixtures are built once; pass -n 0 to run in one process)
# Needs only python3.11+ and pip. Set NASREC_TORCH=skip to keep an already-installed torch
# (e.g. a CUDA build), or NASREC_TORCH="torch==X" to pick another wheel.
set -euo pipefail
cd "$(dirname "$0")/.."
cmd="${1:-demo}"; shift || true
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
VPY=.venv/bin/python
stamp=.venv/.nasrec-installed
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  "$VPY" -m pip install -q --upgrade pip
  torch_spec="${NASREC_TORCH:-torch==2.13.0}"
  if [ "$torch_spec" != "skip" ]; then
    # The pinned CPU wheel first: an unpinned torch would pull the multi-GB CUDA build.
    "$VPY" -m pip install -q "$torch_spec"
  fi
  "$VPY" -m pip install -q -e ".[lab,test]"
  touch "$stamp"
fi
case "$cmd" in
  demo) exec .venv/bin/nasrec-lab demo "$@" ;;
  test) exec "$VPY" -m pytest -n 2 --dist loadfile "$@" ;;
  *) echo "usage: scripts/quickstart.sh demo|test [args...]" >&2; exit 2 ;;
esac
