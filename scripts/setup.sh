#!/usr/bin/env bash
# Create .venv/ (Python 3.11) with pinned torch, fairseq and tools, and the plugin installed
# editable from setup.cfg. Idempotent: a second run with everything in place takes seconds.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

VENV=.venv
PYTHON=${PYTHON:-python3.11}
STAMP=$VENV/.setup-fingerprint
TORCH_VERSION=2.13.0
fingerprint=$(cat setup.cfg pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1)

if [[ -x $VENV/bin/python && -f $STAMP && "$(cat "$STAMP")" == "$fingerprint" ]] &&
   "$VENV/bin/python" -c "import importlib.util as u, sys; sys.exit(not all(u.find_spec(m) for m in ('torch', 'fairseq', 'cs224n_nmt_plugin')))"; then
  echo "setup: $VENV is up to date"
  exit 0
fi

if ! command -v "$PYTHON" >/dev/null; then
  echo "setup: $PYTHON not found; install Python 3.11 or set PYTHON=/path/to/python3.11" >&2
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
  # PyPI's Linux torch wheel is the multi-GB CUDA build: take the CPU build instead,
  # from a wheel pip already finds (find-links) or else from PyTorch's CPU index.
  echo "setup: no GPU: installing torch==$TORCH_VERSION+cpu"
  "${pip[@]}" "torch==$TORCH_VERSION+cpu" 2>/dev/null ||
    "${pip[@]}" "torch==$TORCH_VERSION+cpu" --index-url https://download.pytorch.org/whl/cpu \
      --extra-index-url https://pypi.org/simple
fi

echo "setup: installing the plugin (editable) with its pinned dependencies from setup.cfg"
"${pip[@]}" "setuptools>=64" wheel
"${pip[@]}" --no-build-isolation -e ".[test]"

"$VENV/bin/python" -c "import torch, fairseq, cs224n_nmt_plugin; print(f'setup: torch {torch.__version__}, fairseq {fairseq.__version__}, plugin ok')" 2>/dev/null
echo "$fingerprint" > "$STAMP"
echo "setup: done"
