#!/usr/bin/env bash
# Usage: bash scripts/translate.sh NAME
# Decodes the test split of data-bin/NAME like a4's run.py decode: beam 5, at most 70 steps,
# hypotheses ranked by summed log-probability (--unnormalized). Writes
# outputs/NAME/test_outputs.txt: one a4-format line per test sentence, in input order.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[[ $# -eq 1 ]] || die "usage: bash scripts/translate.sh NAME"
corpus_paths "$1"
use_environment
[[ -f $RUN_DIR/.train.stamp ]] || die "no finished training in $RUN_DIR: run bash scripts/train.sh $NAME first"

output=$RUN_DIR/test_outputs.txt
if is_current "$RUN_DIR/.translate.stamp" "translate" "$RUN_DIR/.train.stamp"; then
  say "up to date: $output"
  exit 0
fi
checkpoint=$CHECKPOINT_DIR/checkpoint_best.pt
cs224n-nmt preflight check "$checkpoint" "$BIN_DIR"
device=()
has_cuda || device=(--cpu)
trap 'rm -f "$RUN_DIR/generate-test.txt.tmp"' EXIT
say "fairseq-generate on the test split of $BIN_DIR (log: $RUN_DIR/generate-test.log)"
# --required-batch-size-multiple 1: fairseq would otherwise drop the last partial batch.
logged "$RUN_DIR/generate-test.log" fairseq-generate "$BIN_DIR" --user-dir "$PLUGIN" --source-lang es --target-lang en \
  --path "$checkpoint" --gen-subset test "${device[@]}" \
  --beam 5 --max-len-a 0 --max-len-b 70 --unnormalized \
  --batch-size 64 --required-batch-size-multiple 1 > "$RUN_DIR/generate-test.txt.tmp"
mv "$RUN_DIR/generate-test.txt.tmp" "$RUN_DIR/generate-test.txt"
say "$(grep -o 'Translated .*' "$RUN_DIR/generate-test.log" || true)"
cs224n-nmt collect "$TEXT_DIR" "$RUN_DIR/generate-test.txt" "$output" \
  --count "$(wc -l < "$TEXT_DIR/test.es")"
mark_done "$RUN_DIR/.translate.stamp" "translate"
say "wrote $output ($(wc -l < "$output") lines)"
