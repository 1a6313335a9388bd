#!/usr/bin/env bash
# Set up .venv/ if needed, then run the whole pytest suite (CPU only). Extra arguments go to pytest.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
echo "test: running pytest"
exec .venv/bin/python -m pytest "$@"
