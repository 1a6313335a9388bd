#!/usr/bin/env bash
# Create .venv/ with the exact set of scripts/constraints.txt (torch, fairseq and tools) and the
# plugin installed editable. Idempotent: a second run with everything in place takes seconds.
#   PYTHON=...          the interpreter (default: python3.11, else python3.12: ve-fairseq's wheels)
#   TORCH_INDEX_URL=... an extra package index to take torch's CPU build from, when pip's
#                       configured index has none (the README names PyTorch's CPU index)
# To install the plugin into an environment you already have, keeping its torch, see
# scripts/install.sh.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

VENV=.venv
STAMP=$VENV/.setup-fingerprint
CONSTRAINTS=scripts/constraints.txt
TORCH_VERSION=$(sed -n 's/^torch==//p' "$CONSTRAINTS")
fingerprint=$(cat setup.cfg pyproject.toml "$CONSTRAINTS" scripts/setup.sh | sha256sum | cut -d' ' -f1)

if [[ -x $VENV/bin/python && -f $STAMP && "$(cat "$STAMP")" == "$fingerprint" ]] &&
   "$VENV/bin/python" -c "import importlib.util as u, sys; sys.exit(not all(u.find_spec(m) for m in ('torch', 'fairseq', 'cs224n_nmt_plugin')))"; then
  echo "setup: $VENV is up to date"
  exit 0
fi

if [[ -z ${PYTHON:-} ]]; then
  for candidate in python3.11 python3.12; do
    if command -v "$candidate" >/dev/null && "$candidate" --version >/dev/null 2>&1; then PYTHON=$candidate; break; fi
  done
fi
if [[ -z ${PYTHON:-} ]] || ! command -v "$PYTHON" >/dev/null; then
  echo "setup: no python3.11 or python3.12 found (ve-fairseq has wheels for those only): install one or set PYTHON=/path/to/python" >&2
  exit 1
fi
if [[ ! -x $VENV/bin/python ]]; then
  echo "setup: creating $VENV with $("$PYTHON" --version)"
  "$PYTHON" -m venv "$VENV"
fi
pip=("$VENV/bin/python" -m pip install --quiet --disable-pip-version-check)

if command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1; then
  echo "setup: GPU found: installing torch==$TORCH_VERSION (CUDA build)"
  "${pip[@]}" "torch==$TORCH_VERSION"
else
  # The index's Linux torch wheel is the multi-GB CUDA build: take the CPU build instead, from
  # a wheel pip already finds (find-links, the configured index) or from TORCH_INDEX_URL.
  echo "setup: no GPU: installing torch==$TORCH_VERSION+cpu"
  if ! "${pip[@]}" "torch==$TORCH_VERSION+cpu" 2>/dev/null; then
    if [[ -z ${TORCH_INDEX_URL:-} ]]; then
      echo "setup: torch==$TORCH_VERSION+cpu is not on pip's index: set TORCH_INDEX_URL to PyTorch's CPU index (see the README)" >&2
      exit 1
    fi
    "${pip[@]}" "torch==$TORCH_VERSION+cpu" --extra-index-url "$TORCH_INDEX_URL"
  fi
fi

echo "setup: installing the plugin (editable) with the pinned set of $CONSTRAINTS"
"${pip[@]}" "setuptools>=64" wheel
"${pip[@]}" --no-build-isolation -c "$CONSTRAINTS" -e ".[test]"

"$VENV/bin/python" -c "import torch, fairseq, cs224n_nmt_plugin; print(f'setup: torch {torch.__version__}, fairseq {fairseq.__version__}, plugin ok')" 2>/dev/null
echo "$fingerprint" > "$STAMP"
echo "setup: done"
