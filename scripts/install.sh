#!/usr/bin/env bash
# Usage: bash scripts/install.sh [--wheelhouse DIR] [--editable]
# Installs the plugin and what it needs into the Python environment you already have (Colab,
# Kaggle, a lab GPU box, an offline cluster node: PYTHON, default python3), keeping the torch
# installed there: the installed torch (and torchaudio, if any) are handed to pip as constraints,
# so pip can neither replace nor upgrade them. With --wheelhouse DIR (made by
# scripts/wheelhouse.sh on a machine with network access) it installs with no package index.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
python=${PYTHON:-python3}
wheelhouse="" editable=()
while [[ $# -gt 0 ]]; do
  case $1 in
    --wheelhouse) wheelhouse=$2; shift 2 ;;
    --editable) editable=(-e); shift ;;
    *) die "usage: bash scripts/install.sh [--wheelhouse DIR] [--editable]" ;;
  esac
done
problem=$(own_torch_problem "$python") ||
  die "${problem:-$python cannot import torch}: install.sh needs Python 3.11 or 3.12 with torch >= 2.5" \
      "(PYTHON=...), or use scripts/setup.sh"
installed=$("$python" -c 'import torch; print(torch.__version__)' 2>/dev/null)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
"$python" - > "$work/keep.txt" <<'PY'
from importlib import metadata
for name in ("torch", "torchaudio"):
    try:
        print(f"{name}=={metadata.version(name)}")
    except metadata.PackageNotFoundError:
        pass
PY
index=()
if [[ -n $wheelhouse ]]; then
  [[ -d $wheelhouse ]] || die "$wheelhouse: no such folder (make it with scripts/wheelhouse.sh)"
  index=(--no-index --find-links "$wheelhouse")
fi
say "installing the plugin into $("$python" -c 'import sys; print(sys.prefix)')," \
    "keeping $(tr '\n' ' ' < "$work/keep.txt")"
"$python" -m pip install --quiet --disable-pip-version-check "${index[@]}" -c "$work/keep.txt" "${editable[@]}" \
  "$REPO" || die "pip could not install the plugin (see above)"
after=$("$python" -c 'import torch; print(torch.__version__)' 2>/dev/null)
[[ $after == "$installed" ]] || die "torch changed from $installed to $after"
# fairseq logs a notice about tensorboardX at import time: not for this line
"$python" -I -c 'import logging; logging.disable(logging.INFO); import fairseq, cs224n_nmt_plugin, os
print(f"[install] fairseq {fairseq.__version__}; --user-dir {os.path.dirname(cs224n_nmt_plugin.__file__)}")'
say "done: torch $after kept"
