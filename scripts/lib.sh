# Shared by the pipeline scripts (source it): paths, messages and step stamps.
# A step is skipped when its stamp records the same settings and is newer than its inputs;
# the stamp is written last, so an interrupted step is never taken for a finished one.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PLUGIN=$REPO/cs224n_nmt_plugin
SHARED_DATA=${SHARED_DATA:-$REPO/../shared/data}  # the course's data and the corpora, beside the checkout
STEP=$(basename "$0" .sh)

say() { echo "[$STEP] $*"; }
die() { echo "[$STEP] error: $*" >&2; exit 1; }

# use_environment: the project's .venv/ (scripts/setup.sh) when there is one, else the Python
# environment the plugin was installed into (scripts/install.sh: Colab, Kaggle, a GPU node);
# sets PYTHON and puts that environment's commands (fairseq-*, cs224n-nmt) first on the PATH
use_environment() {
  if [[ -x $REPO/.venv/bin/python ]]; then
    export PATH="$REPO/.venv/bin:$PATH"
    PYTHON=$REPO/.venv/bin/python
  elif has_the_plugin "${PYTHON:-python3}"; then
    PYTHON=$(command -v "${PYTHON:-python3}")
  else
    die "no environment with the plugin: run bash scripts/setup.sh (a new .venv/) or scripts/install.sh (yours)"
  fi
  command -v fairseq-train >/dev/null || die "fairseq-train is not on the PATH of $PYTHON's environment"
  eval "$("$PYTHON" "$REPO/scripts/malloc_settings.py")"  # keep large freed blocks (see that file)
}

# has_the_plugin PYTHON: that interpreter imports fairseq and the plugin (not the checkout's copy)
has_the_plugin() {
  command -v "$1" >/dev/null && (cd / && "$1" -c "import fairseq, cs224n_nmt_plugin" 2>/dev/null)
}

# own_torch_problem PYTHON: fails, saying why, where the plugin cannot go into that interpreter's
# environment beside the torch installed there (scripts/install.sh's way): Python 3.11 or 3.12 and
# torch 2.5 or later are needed. torch's own import-time warnings are left out.
own_torch_problem() {
  command -v "$1" >/dev/null || { echo "$1 not found"; return 1; }
  "$1" - 2>/dev/null <<'PY'
import platform, sys
if not (3, 11) <= sys.version_info[:2] <= (3, 12):
    sys.exit(print(f"Python {platform.python_version()} is not 3.11 or 3.12, the Pythons ve-fairseq has wheels "
                   "for") or 1)
try:
    import torch
except ImportError:
    sys.exit(print(f"no torch in {sys.prefix}") or 1)
if tuple(int(part) for part in torch.__version__.split("+")[0].split(".")[:2]) < (2, 5):
    sys.exit(print(f"torch {torch.__version__} is older than 2.5, the oldest the plugin works with") or 1)
PY
}

# settings QUESTION [ARGS...]: cs224n_nmt_plugin/settings.py's answer, one value a line (it needs
# only Python's standard library, so any python3 answers before an environment is chosen)
settings() {
  PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" "${PYTHON:-python3}" -m cs224n_nmt_plugin.settings "$@"
}

# corpus_paths NAME: the folders of corpus NAME (settings.py's layout; DATA_BIN_ROOT and
# OUTPUTS_ROOT move them)
corpus_paths() {
  local layout
  layout=$(settings layout "$1" 2>&1) || die "${layout#error: }"
  mapfile -t layout <<< "$layout"
  NAME=$1
  BIN_DIR=${layout[0]}         # fairseq-preprocess output (dictionaries, binaries)
  TEXT_DIR=${layout[1]}        # prepared text, prepare.json, references
  RUN_DIR=${layout[2]}         # training log, translations, scores
  CHECKPOINT_DIR=${layout[3]}
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

# generated LOG OUTPUT TOTAL COMMAND...: run fairseq-generate or -interactive (COMMAND) with its
# stderr (fairseq's logging) written to LOG and its output to OUTPUT, the sentences translated so
# far counted against TOTAL on the console (cs224n-nmt generate-progress); on failure show the
# end of LOG and stop. Unbuffered, so that each translation is counted as it is printed.
generated() {
  local log=$1 output=$2 total=$3
  shift 3
  if ! PYTHONUNBUFFERED=1 "$@" 2>"$log" | cs224n-nmt generate-progress "$output" --total "$total" --label "$STEP"; then
    tail -n 15 "$log" >&2
    die "$1 failed; its whole log: $log"
  fi
}

# tatoeba_corpus: prints the path of the Tatoeba spa.txt to train on: $TATOEBA when set, else the
# one in $SHARED_DATA (default ../shared/data beside the repository), else the one fetched before
# into $DATA_BIN_ROOT/downloads/tatoeba/, else fetched there now (cs224n-nmt fetch-tatoeba, which
# checks it; TATOEBA_URL and TATOEBA_MD5 fetch another copy)
tatoeba_corpus() {
  local shared=$SHARED_DATA/tatoeba_spa_eng/spa.txt
  local downloads=${DATA_BIN_ROOT:-$REPO/data-bin}/downloads/tatoeba
  if [[ -n ${TATOEBA:-} ]]; then
    [[ -f $TATOEBA ]] || die "TATOEBA=$TATOEBA: no such file"
    echo "$TATOEBA"
  elif [[ -f $shared ]]; then
    echo "$shared"
  else
    if [[ ! -f $downloads/spa.txt ]]; then
      local source=()
      [[ -n ${TATOEBA_URL:-} ]] && source=(--url "$TATOEBA_URL" --md5 "${TATOEBA_MD5:-none}")
      say "no corpus at hand: fetching the Tatoeba spa-eng corpus into $downloads" >&2
      cs224n-nmt fetch-tatoeba "$downloads" "${source[@]}" >&2 || exit 1
    fi
    echo "$downloads/spa.txt"
  fi
}

# has_cuda: torch sees a GPU
has_cuda() {
  "$PYTHON" -c "import sys, torch; sys.exit(not torch.cuda.is_available())" 2>/dev/null
}
