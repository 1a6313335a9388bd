#!/usr/bin/env bash
# Usage: bash scripts/train.sh NAME [extra fairseq-train options]
# Trains cs224n_lstm on data-bin/NAME into outputs/NAME/checkpoints/, logging to
# outputs/NAME/train.log and plotting outputs/NAME/checkpoints/learning_curve.png.
#   RECIPE=gpu  the a4 run.sh settings on a GPU, with mixed precision (default when torch sees CUDA)
#   RECIPE=cpu  (default without CUDA) the same optimiser on the half-size cs224n_lstm_small,
#               stopped after CPU_UPDATES updates (default 16000, about 20 minutes on a 2-core CPU;
#               a fixed number of updates, so that a run gives the same model however busy the
#               machine is), or after CPU_MINUTES of training when that is set
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
# a4 run.py: torch.optim.Adam 1e-3 (a4_adam), gradient-norm clip 5, 32 sentences a batch, loss =
# summed NLL / sentences (a4_cross_entropy: cross_entropy's loss at the target words only),
# uniform init (the model's), seed 0; lr halved when dev loss stops improving, stop after 5 halvings.
common=(
  "$BIN_DIR" --user-dir "$PLUGIN" --task translation --source-lang es --target-lang en
  --optimizer a4_adam --lr 1e-3 --clip-norm 5 --batch-size 32 --criterion a4_cross_entropy --sentence-avg
  --seed 0 --lr-scheduler reduce_lr_on_plateau --lr-shrink 0.5 --lr-patience 1 --stop-min-lr 3.2e-05
  --max-epoch 30 --save-dir "$CHECKPOINT_DIR" --keep-interval-updates 1 --no-epoch-checkpoints
  --log-format json --log-interval 100 --no-progress-bar --update-epoch-batch-itr True
)
case $recipe in
  gpu) settings=(--arch cs224n_lstm --validate-interval-updates 2000 --save-interval-updates 2000 --amp) ;;
  # --num-workers 0: batches are loaded in the training process; a loader process would compete
  # with torch's threads for the CPU's cores.
  # Float32: --cpu-autocast bf16 trained no faster at this size in a whole run (docs/performance.md)
  cpu) settings=(--arch cs224n_lstm_small --cpu --num-workers 0 --validate-interval-updates 1000
                 --save-interval-updates 1000 --max-update "${CPU_UPDATES:-16000}")
       if [[ -n ${CPU_MINUTES:-} ]]; then
         settings+=(--stop-time-hours "$("$PYTHON" -c "print(${CPU_MINUTES} / 60)")")
       fi ;;
  *) die "RECIPE must be gpu, cpu or auto, not '$recipe'" ;;
esac

description="train $recipe ${settings[*]} $*"
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
if ! PYTHONUNBUFFERED=1 fairseq-train "${common[@]}" "${settings[@]}" "$@" 2>&1 |
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
