#!/usr/bin/env bash
# Usage: bash scripts/run.sh [--environment-only]
# The main command: set up, find data, prepare, preprocess, train, translate the test set,
# score it and show a few translations. Every step is skipped when its output is current.
# --environment-only stops once the environment is chosen and ready (the notebook's install step).
#   A4_DATA      an a4 en_es_data/ folder; used when it holds train.es/train.en
#                (default: $SHARED_DATA/en_es, SHARED_DATA defaulting to ../shared/data)
#   TATOEBA      the Tatoeba spa.txt, used otherwise; without it the one in $SHARED_DATA, else the
#                fixed 2018-05-13 spa-eng.zip, downloaded once and checked (scripts/lib.sh)
#   RECIPE, CPU_UPDATES, CPU_MINUTES  see scripts/train.sh
#   PYTHON       the interpreter whose environment is used (default python3)
#   USE_VENV=1   always the project's own .venv/ (scripts/setup.sh), never PYTHON's environment
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
case ${1:-} in
  "") environment_only=0 ;;
  --environment-only) environment_only=1 ;;
  *) die "usage: bash scripts/run.sh [--environment-only]" ;;
esac

# The environment: the project's .venv/ where there is one (or USE_VENV=1); else PYTHON's own
# when the plugin is installed there, or can be beside the torch it has (Colab, Kaggle, a lab GPU
# box: scripts/install.sh, which keeps that torch); else a new .venv/ with its own torch.
python=${PYTHON:-python3}
if [[ -x $REPO/.venv/bin/python || ${USE_VENV:-0} == 1 ]]; then
  say "environment: the project's .venv/ ($([[ ${USE_VENV:-0} == 1 ]] && echo USE_VENV=1 || echo it exists))"
  bash "$REPO/scripts/setup.sh"
elif has_the_plugin "$python"; then
  say "environment: $("$python" -c 'import sys; print(sys.prefix)') ($python), where the plugin is installed"
elif problem=$(own_torch_problem "$python"); then
  say "environment: installing the plugin into $("$python" -c 'import sys; print(sys.prefix)') ($python)," \
      "keeping its torch $("$python" -c 'import torch; print(torch.__version__)' 2>/dev/null);" \
      "USE_VENV=1 makes a .venv/ instead"
  bash "$REPO/scripts/install.sh" --editable
else
  say "environment: a new .venv/ with its own torch ($python: ${problem:-cannot import torch})"
  bash "$REPO/scripts/setup.sh"
fi
use_environment
[[ $environment_only == 0 ]] || exit 0

A4_DATA=${A4_DATA:-$SHARED_DATA/en_es}
if [[ -f $A4_DATA/train.es && -f $A4_DATA/train.en ]]; then
  say "a4 data with training files: $A4_DATA"
  name=a4
  bash "$REPO/scripts/prepare.sh" a4 a4 "$A4_DATA"
else
  tatoeba=$(tatoeba_corpus)
  say "no a4 training files in $A4_DATA: using Tatoeba $tatoeba"
  name=tatoeba
  bash "$REPO/scripts/prepare.sh" tatoeba tatoeba "$tatoeba"
fi
corpus_paths "$name"
bash "$REPO/scripts/preprocess.sh" "$name"
bash "$REPO/scripts/train.sh" "$name"
bash "$REPO/scripts/translate.sh" "$name"

# A Tatoeba model is also tried on the real a4 test set when it is at hand (out of domain).
if [[ $name == tatoeba && -f $A4_DATA/test.es && -f $A4_DATA/test.en ]]; then
  a4_outputs=$RUN_DIR/a4_test_outputs.txt
  if [[ ! -f $a4_outputs || $a4_outputs -ot $RUN_DIR/.train.stamp ]]; then
    bash "$REPO/scripts/translate_file.sh" "$name" "$A4_DATA/test.es" "$a4_outputs"
  fi
  bash "$REPO/scripts/score.sh" "$name" "a4 test (out of domain)" "$a4_outputs" "$A4_DATA/test.en" > /dev/null
fi
say "scores (also in $RUN_DIR/scores.json):"
bash "$REPO/scripts/score.sh" "$name"
say "a few test translations (source / reference / model):"
paste -d '\n' <(head -n 5 "$TEXT_DIR/test.es") <(head -n 5 "$TEXT_DIR/ref.test.en") \
  <(head -n 5 "$RUN_DIR/test_outputs.txt") /dev/null | sed -n '1,20p' | sed 's/^/    /'
say "learning curve: $CHECKPOINT_DIR/learning_curve.png"
