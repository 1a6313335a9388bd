#!/usr/bin/env bash
# Usage: bash scripts/translate_file.sh NAME INPUT.es OUTPUT.txt
# Translates raw Spanish text (one sentence a line) with the model trained on corpus NAME,
# through fairseq-interactive, with the corpus's own pre- and post-processing. Same decoding
# as translate.sh (the homework's beam search; SEARCH=fairseq for fairseq's). OUTPUT.txt has
# one a4-format line per input line, in input order (an empty line is translated as a4's ''
# sentence; a line of more than 1023 tokens is cut to its first 1023, with a warning). The
# checkpoint is checked against the data-bin first.
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[[ $# -eq 3 ]] || die "usage: bash scripts/translate_file.sh NAME INPUT.es OUTPUT.txt"
corpus_paths "$1"
input=$2 output=$3
use_environment
[[ -f $input ]] || die "$input: no such file"
search=${SEARCH:-homework}
decoding=$(settings decoding --search "$search" 2>/dev/null) ||
  die "SEARCH must be homework or fairseq, not '$search'"
mapfile -t decoding <<< "$decoding"
[[ -f $RUN_DIR/.train.stamp ]] || die "no finished training in $RUN_DIR: run bash scripts/train.sh $NAME first"
checkpoint=$CHECKPOINT_DIR/checkpoint_best.pt
cs224n-nmt preflight check "$checkpoint" "$BIN_DIR"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cs224n-nmt encode "$TEXT_DIR" "$input" "$work/input.es"
device=()
has_cuda || device=(--cpu)
say "fairseq-interactive: $input -> $output (log: $RUN_DIR/interactive.log)"
say "decoding: $(settings decoding-summary --search "$search")"
generated "$RUN_DIR/interactive.log" "$work/interactive.txt" "$(wc -l < "$work/input.es")" \
  fairseq-interactive "$BIN_DIR" --user-dir "$PLUGIN" --source-lang es --target-lang en \
  --path "$checkpoint" --input "$work/input.es" "${device[@]}" "${decoding[@]}" --buffer-size 2048 --batch-size 64
cs224n-nmt collect "$TEXT_DIR" "$work/interactive.txt" "$output" \
  --count "$(wc -l < "$work/input.es")"  # encode's lines: a last line without \n counts too
say "wrote $output ($(wc -l < "$output") lines)"
