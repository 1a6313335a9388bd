#!/usr/bin/env bash
# The main command: set up, find data, prepare, preprocess, train, translate the test set,
# score it and show a few translations. Every step is skipped when its output is current.
#   A4_DATA      an a4 en_es_data/ folder; used when it holds train.es/train.en
#                (default: $SHARED_DATA/en_es, SHARED_DATA defaulting to ../shared/data)
#   TATOEBA      the Tatoeba spa.txt, used otherwise; without it the one in $SHARED_DATA, else the
#                fixed 2018-05-13 spa-eng.zip, downloaded once and checked (scripts/lib.sh)
#   RECIPE, CPU_UPDATES, CPU_MINUTES  see scripts/train.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
# a new .venv/, unless the plugin is installed in the environment at hand (scripts/install.sh)
if [[ -x $REPO/.venv/bin/python ]] || ! has_the_plugin "${PYTHON:-python3}"; then
  bash "$REPO/scripts/setup.sh"
fi
use_environment

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
