# Shared by the pipeline scripts (source it): paths, messages and step stamps.
# A step is skipped when its stamp records the same settings and is newer than its inputs;
# the stamp is written last, so an interrupted step is never taken for a finished one.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PLUGIN=$REPO/cs224n_nmt_plugin
STEP=$(basename "$0" .sh)

say() { echo "[$STEP] $*"; }
die() { echo "[$STEP] error: $*" >&2; exit 1; }

use_venv() {
  [[ -x $REPO/.venv/bin/python ]] || die "$REPO/.venv is missing: run bash scripts/setup.sh first"
  export PATH="$REPO/.venv/bin:$PATH"
  eval "$(python "$REPO/scripts/malloc_settings.py")"  # keep large freed blocks (see that file)
}

# corpus_paths NAME: the folders of corpus NAME (DATA_BIN_ROOT and OUTPUTS_ROOT move them)
corpus_paths() {
  [[ $1 =~ ^[A-Za-z0-9._-]+$ ]] || die "corpus name '$1' may only hold letters, digits, '.', '_' and '-'"
  NAME=$1
  BIN_DIR=${DATA_BIN_ROOT:-$REPO/data-bin}/$NAME   # fairseq-preprocess output (dictionaries, binaries)
  TEXT_DIR=$BIN_DIR/text                           # prepared text, prepare.json, references
  RUN_DIR=${OUTPUTS_ROOT:-$REPO/outputs}/$NAME     # training log, translations, scores
  CHECKPOINT_DIR=$RUN_DIR/checkpoints
}

# is_current STAMP SETTINGS [INPUT...]: the step already ran with SETTINGS after its inputs changed
is_current() {
  local stamp=$1 settings=$2 input
  shift 2
  [[ -f $stamp && "$(cat "$stamp")" == "$settings" ]] || return 1
  for input in "$@"; do
    [[ $input -ot $stamp ]] || return 1
  done
}

# mark_done STAMP SETTINGS: record that the step finished with SETTINGS
mark_done() {
  printf '%s\n' "$2" > "$1.tmp"
  mv "$1.tmp" "$1"
}

# logged LOG COMMAND...: run COMMAND with its stderr (fairseq's logging) written to LOG, kept for
# whoever needs it; on failure show the end of LOG and stop
logged() {
  local log=$1
  shift
  if ! "$@" 2>"$log"; then
    tail -n 15 "$log" >&2
    die "$1 failed; its whole log: $log"
  fi
}

# has_cuda: torch sees a GPU
has_cuda() {
  python -c "import sys, torch; sys.exit(not torch.cuda.is_available())" 2>/dev/null
}
