#!/usr/bin/env bash
# Usage: bash scripts/translate.sh NAME
# Decodes the test split of data-bin/NAME like a4's run.py decode: the homework's beam search
# (the plugin's task; cs224n_nmt_plugin/settings.py holds the options), beam 5, at most 70 steps.
# Writes outputs/NAME/test_outputs.txt: one a4-format line per test sentence, in input order.
#   SEARCH=fairseq  decode with fairseq's beam search instead (its closest settings)
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[[ $# -eq 1 ]] || die "usage: bash scripts/translate.sh NAME"
corpus_paths "$1"
use_environment
[[ -f $RUN_DIR/.train.stamp ]] || die "no finished training in $RUN_DIR: run bash scripts/train.sh $NAME first"

output=$RUN_DIR/test_outputs.txt
search=${SEARCH:-homework}
decoding=$(settings decoding --search "$search" 2>/dev/null) ||
  die "SEARCH must be homework or fairseq, not '$search'"
mapfile -t decoding <<< "$decoding"
if is_current "$RUN_DIR/.translate.stamp" "translate $search" "$RUN_DIR/.train.stamp"; then
  say "up to date: $output"
  exit 0
fi
checkpoint=$CHECKPOINT_DIR/checkpoint_best.pt
cs224n-nmt preflight check "$checkpoint" "$BIN_DIR"
device=()
has_cuda || device=(--cpu)
trap 'rm -f "$RUN_DIR/generate-test.txt.tmp"' EXIT
say "fairseq-generate on the test split of $BIN_DIR (log: $RUN_DIR/generate-test.log)"
say "decoding: $(settings decoding-summary --search "$search")"
# --required-batch-size-multiple 1: fairseq would otherwise drop the last partial batch.
generated "$RUN_DIR/generate-test.log" "$RUN_DIR/generate-test.txt.tmp" "$(wc -l < "$TEXT_DIR/test.es")" \
  fairseq-generate "$BIN_DIR" --user-dir "$PLUGIN" --source-lang es --target-lang en \
  --path "$checkpoint" --gen-subset test "${device[@]}" "${decoding[@]}" \
  --batch-size 64 --required-batch-size-multiple 1
mv "$RUN_DIR/generate-test.txt.tmp" "$RUN_DIR/generate-test.txt"
say "$(grep -o 'Translated .*' "$RUN_DIR/generate-test.log" || true)"
cs224n-nmt collect "$TEXT_DIR" "$RUN_DIR/generate-test.txt" "$output" \
  --count "$(wc -l < "$TEXT_DIR/test.es")"
mark_done "$RUN_DIR/.translate.stamp" "translate $search"
say "wrote $output ($(wc -l < "$output") lines)"
