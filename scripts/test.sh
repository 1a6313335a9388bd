#!/usr/bin/env bash
# Set up .venv/ if needed, check the tree with ruff, then run the pytest suite (CPU only).
#   bash scripts/test.sh              every test
#   bash scripts/test.sh --fast       the fast tier: leaves out the tests marked slow or browser
#                                     (training, fairseq's tools, the pipeline scripts, the notebook,
#                                     the server, Chromium; setup.cfg lists the markers)
# Every other argument goes to pytest, e.g. `bash scripts/test.sh --fast -x tests/test_bleu.py`;
# after `--`, every argument goes to pytest as it is. With --fast, select further with -k or paths:
# pytest keeps only the last -m, so --fast refuses one.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

fast=0
pytest_args=()
while (($#)); do
  case $1 in
    --fast) fast=1 ;;
    --) shift; pytest_args+=("$@"); break ;;
    *) pytest_args+=("$1") ;;
  esac
  shift
done
if ((fast)); then
  for arg in "${pytest_args[@]}"; do
    if [[ $arg == -m* ]]; then
      echo "test: --fast selects with -m \"not slow and not browser\":" \
        "give your whole marker expression with -m instead" >&2
      exit 2
    fi
  done
  pytest_args=(-m "not slow and not browser" "${pytest_args[@]}")
fi

bash scripts/setup.sh
echo "test: ruff check (the rules are pyproject.toml's [tool.ruff])"
if ! .venv/bin/ruff check .; then
  echo "test: ruff check failed: fix the problems listed above" \
    "(.venv/bin/ruff check --fix . fixes those marked [*]), then run this again" >&2
  exit 1
fi
if ((fast)); then
  echo "test: running pytest, the fast tier (not slow and not browser)"
else
  echo "test: running pytest, every test"
fi
exec .venv/bin/python -m pytest "${pytest_args[@]}"
