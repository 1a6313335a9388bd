#!/usr/bin/env bash
# The main command: set up, find data, prepare, preprocess, train, translate the test set,
# score it and show a few translations. Every step is skipped when its output is current.
#   A4_DATA  an a4 en_es_data/ folder; used when it holds train.es/train.en
#            (default: ../shared/data/en_es beside the repository)
#   TATOEBA  the Tatoeba spa.txt, used otherwise (default: ../shared/data/tatoeba_spa_eng/spa.txt)
#   RECIPE, CPU_UPDATES, CPU_MINUTES  see scripts/train.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
bash "$REPO/scripts/setup.sh"
use_venv

A4_DATA=${A4_DATA:-$REPO/../shared/data/en_es}
TATOEBA=${TATOEBA:-$REPO/../shared/data/tatoeba_spa_eng/spa.txt}
if [[ -f $A4_DATA/train.es && -f $A4_DATA/train.en ]]; then
  say "a4 data with training files: $A4_DATA"
  name=a4
  bash "$REPO/scripts/prepare.sh" a4 a4 "$A4_DATA"
elif [[ -f $TATOEBA ]]; then
  say "no a4 training files in $A4_DATA: using Tatoeba $TATOEBA"
  name=tatoeba
  bash "$REPO/scripts/prepare.sh" tatoeba tatoeba "$TATOEBA"
else
  die "no data: set A4_DATA=path/to/en_es_data (with train.es/train.en) or TATOEBA=path/to/spa.txt (spa-eng.zip from manythings.org/anki)"
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
