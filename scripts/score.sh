#!/usr/bin/env bash
# Usage: bash scripts/score.sh NAME [LABEL HYPOTHESES REFERENCES]
# Scores outputs/NAME/test_outputs.txt against the corpus's test references (or the given
# files) with a4 BLEU and sacreBLEU; adds the result to outputs/NAME/scores.json and prints
# the table of every result there.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[[ $# -eq 1 || $# -eq 4 ]] || die "usage: bash scripts/score.sh NAME [LABEL HYPOTHESES REFERENCES]"
corpus_paths "$1"
use_environment
label=${2:-"$NAME test"}
hypotheses=${3:-$RUN_DIR/test_outputs.txt}
references=${4:-$TEXT_DIR/ref.test.en}
say "scoring $hypotheses against $references"
cs224n-nmt score "$RUN_DIR/scores.json" "$label" "$hypotheses" "$references"
