#!/usr/bin/env bash
# Usage: bash scripts/gpu_check.sh [--dry-run] OUT_DIR
# The one-command GPU measurement (about 9 minutes on one H200-class GPU): checks the GPU,
# prepares and binarizes the Tatoeba split if needed, then scripts/compare.py trains cs224n_lstm
# (the homework's 256/256, batch 32: with a4_adam and cross_entropy, and as the GPU recipe trains
# it: a4_adam, a4_cross_entropy and --amp) and fairseq's lstm in its closest match (with fairseq's
# adam, and with a4_adam) in alternating rounds, the same training seconds each, brings the models
# with fewer updates on to the most, and decodes the test split with the homework's beam search
# (beam 5). Writes OUT_DIR/gpu_check.json and OUT_DIR/gpu_check.md: train target tokens/s (median
# and range over the rounds, and the per-round ratios), peak GPU memory
# (torch.cuda.max_memory_allocated), dev perplexity and test a4 BLEU and sacreBLEU at equal
# training time and at equal updates with their significance, decoding sentences/s, and the
# Python, torch, CUDA, fairseq and GPU versions.
#   GPU_SECONDS  training seconds per model over all rounds (default 45; four models)
#   GPU_ROUNDS   rounds they are split into (default 3)
#   TATOEBA      the corpus (default as scripts/run.sh finds it; the GPU machine needs a copy)
# Each run starts its comparison afresh (compare.py --fresh).
# --dry-run: the same steps on the CPU with the tiny model, a slice of the corpus and 20 s per
# model in 2 rounds (a few minutes): tests/test_gpu_check.py runs it, so the script cannot rot.
# It runs in .venv/ or in an environment the plugin was installed into (scripts/install.sh).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
dry_run=false
if [[ ${1:-} == --dry-run ]]; then dry_run=true; shift; fi
[[ $# -eq 1 ]] || die "usage: bash scripts/gpu_check.sh [--dry-run] OUT_DIR"
out=$1
use_environment
mkdir -p "$out"

if $dry_run; then
  say "dry run: CPU, tiny model, a slice of the corpus"
  name=tatoeba-dry-run
  prepare_options=(--max-lines 3000 --valid-size 200 --test-size 200)
  compare_options=(--cpu --size 32 --seconds 20 --rounds 2 --fresh)
else
  command -v nvidia-smi >/dev/null && nvidia-smi -L >/dev/null 2>&1 || die "no NVIDIA GPU (nvidia-smi -L failed)"
  has_cuda || die "torch in $PYTHON does not see the GPU (torch.cuda.is_available() is False)"
  name=tatoeba
  prepare_options=()
  compare_options=(--seconds "${GPU_SECONDS:-45}" --rounds "${GPU_ROUNDS:-3}" --fresh)
fi
"$PYTHON" - > "$out/versions.json" <<'PY'
import json, platform, sys
import fairseq, torch
versions = {"python": platform.python_version(), "torch": torch.__version__, "cuda": torch.version.cuda,
            "fairseq": fairseq.__version__, "cpu_threads": torch.get_num_threads(),
            "gpu": torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
            "bf16_supported": torch.cuda.is_bf16_supported() if torch.cuda.is_available() else None}
print(json.dumps(versions, indent=2))
PY
say "versions: $(tr -d '\n ' < "$out/versions.json")"

corpus=$(tatoeba_corpus)  # (an assignment, so that its failure stops the script)
bash "$REPO/scripts/prepare.sh" "$name" tatoeba "$corpus" "${prepare_options[@]}"
bash "$REPO/scripts/preprocess.sh" "$name"
corpus_paths "$name"
say "compare.py $name ${compare_options[*]}"
"$PYTHON" "$REPO/scripts/compare.py" "$name" "${compare_options[@]}" > "$out/compare.log" 2>&1 ||
  { tail -n 20 "$out/compare.log" >&2; die "compare.py failed; its log: $out/compare.log"; }
comparison=${OUTPUTS_ROOT:-$REPO/outputs}/$name/compare
"$PYTHON" - "$out" "$comparison" "$dry_run" <<'PY'
import json, sys
from pathlib import Path
out, comparison, dry_run = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3] == "true"
versions = json.loads((out / "versions.json").read_text())
result = {"dry_run": dry_run, "versions": versions, **json.loads((comparison / "comparison.json").read_text())}
(out / "gpu_check.json").write_text(json.dumps(result, indent=2) + "\n")
machine = ", ".join(f"{key} {value}" for key, value in versions.items())
command = "bash scripts/gpu_check.sh" + (" --dry-run" if dry_run else "") + " OUT_DIR"
(out / "gpu_check.md").write_text(f"`{command}` on: {machine}\n\n" + (comparison / "comparison.md").read_text())
PY
cp "$comparison/dev_ppl.png" "$out/"
say "wrote $out/gpu_check.json and $out/gpu_check.md"
