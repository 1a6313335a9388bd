#!/usr/bin/env bash
# Usage: bash scripts/train.sh NAME [extra fairseq-train options]
# Trains cs224n_lstm on data-bin/NAME into outputs/NAME/checkpoints/, logging to
# outputs/NAME/train.log and plotting outputs/NAME/checkpoints/learning_curve.png.
#   RECIPE=gpu  the a4 run.sh settings on a GPU, with mixed precision (default when torch sees CUDA)
#   RECIPE=cpu  (default without CUDA) the same optimiser on the half-size cs224n_lstm_small,
#               stopped after CPU_UPDATES updates (default 16000; a fixed number of updates, so
#               that a run gives the same model however busy the machine is), or after
#               CPU_MINUTES of training when that is set
# The recipes' fairseq-train options are cs224n_nmt_plugin/settings.py's training_options.
# An interrupted run resumes from checkpoint_last.pt when the same command is run again; on CPU
# it then continues exactly as the uninterrupted run would have (same batches, same losses):
# --update-epoch-batch-itr makes fairseq form each epoch's batches from seed + epoch, where by
# default it keeps the batches of the epoch the process started in, which a resumed process
# would form differently. A checkpoint_last.pt truncated by a kill during fairseq's copy is
# replaced by the newest readable checkpoint (cs224n_nmt_plugin/preflight.py).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
[[ $# -ge 1 ]] || die "usage: bash scripts/train.sh NAME [fairseq-train options]"
corpus_paths "$1"
shift
use_environment
[[ -f $BIN_DIR/.preprocess.stamp ]] || die "$BIN_DIR is not binarized: run bash scripts/preprocess.sh $NAME first"

recipe=${RECIPE:-auto}
if [[ $recipe == auto ]]; then
  if has_cuda; then recipe=gpu; else recipe=cpu; fi
fi
# The recipe's options (a4 run.py's training) come from cs224n_nmt_plugin/settings.py; these are
# the pipeline's own: where the data and checkpoints are, what is kept, how fairseq logs.
recipe_options=$(settings training "$recipe" --cpu-updates "${CPU_UPDATES:-16000}" 2>&1) || die "${recipe_options#error: }"
mapfile -t recipe_options <<< "$recipe_options"
if [[ $recipe == cpu && -n ${CPU_MINUTES:-} ]]; then
  recipe_options+=(--stop-time-hours "$("$PYTHON" -c "print(${CPU_MINUTES} / 60)")")
fi
pipeline_options=(
  "$BIN_DIR" --user-dir "$PLUGIN" --save-dir "$CHECKPOINT_DIR" --keep-interval-updates 1 --no-epoch-checkpoints
  --log-format json --log-interval 100 --no-progress-bar
)

description="train $recipe ${recipe_options[*]} $*"
stamp=$RUN_DIR/.train.stamp
if is_current "$stamp" "$description" "$BIN_DIR/.preprocess.stamp"; then
  say "up to date: $CHECKPOINT_DIR/checkpoint_best.pt"
  exit 0
fi
if [[ -f $stamp ]]; then
  die "$RUN_DIR holds a finished run with other settings or older data; move it away or choose another NAME"
fi
mkdir -p "$CHECKPOINT_DIR"
if [[ -f $CHECKPOINT_DIR/checkpoint_last.pt ]]; then
  cs224n-nmt preflight resume "$CHECKPOINT_DIR" "$BIN_DIR"
  say "resuming from $CHECKPOINT_DIR/checkpoint_last.pt"
fi
say "fairseq-train ($recipe recipe) on $BIN_DIR, its whole log: $RUN_DIR/train.log"
# The console shows progress, validations and warnings (cs224n-nmt train-progress); the log keeps
# every line. Unbuffered, so that each record reaches the progress display as it is logged.
if ! PYTHONUNBUFFERED=1 fairseq-train "${pipeline_options[@]}" "${recipe_options[@]}" "$@" 2>&1 |
     cs224n-nmt train-progress "$RUN_DIR/train.log"; then
  tail -n 15 "$RUN_DIR/train.log" >&2
  die "fairseq-train stopped before the end (its whole log: $RUN_DIR/train.log); the same command resumes"
fi
[[ -f $CHECKPOINT_DIR/checkpoint_best.pt ]] || die "training wrote no $CHECKPOINT_DIR/checkpoint_best.pt (see $RUN_DIR/train.log)"
mark_done "$stamp" "$description"
say "done: $CHECKPOINT_DIR/checkpoint_best.pt"
if cs224n-nmt curve "$RUN_DIR/train.log" "$CHECKPOINT_DIR/learning_curve.png"; then
  say "learning curve: $CHECKPOINT_DIR/learning_curve.png"
else
  say "warning: no learning curve drawn (the log needs --log-interval points and a validation)"
fi
