"""Side by side, trained on the same binarized corpus with the same batch size, seed and budget,
then decoded and scored the same way:

  (default) cs224n_lstm against fairseq's built-in lstm (its closest match), two ways:
            (a) the model alone: both trained with a4_adam, the homework's torch.optim.Adam, and
                fairseq's cross_entropy, in float32;
            (b) the pipeline a user gets: our recipe (scripts/train.sh's: a4_adam, a4_cross_entropy;
                on a CPU --num-workers 0 in float32, on a GPU --amp) against fairseq
                lstm trained the way a fairseq user would, with fairseq's --optimizer adam and
                fairseq's defaults;
            and (c) our recipe against cs224n_lstm of (a): what the recipe's loss changes;
  --attention-variants   cs224n_lstm's multiplicative, dot and additive attention;
  --precision-variants   cs224n_lstm in float32 and with --cpu-autocast bf16 (CPU mixed precision).

    .venv/bin/python scripts/compare.py NAME [--seconds S | --updates N] [--size N] [VARIANTS]

NAME is a corpus already prepared and binarized by the pipeline (data-bin/NAME). Writes
outputs/NAME/compare[-attention|-precision]/: one folder per contestant (checkpoints, train.log,
generate-test.txt, test_outputs.txt), comparison.md (the table, the ratios with sacreBLEU's paired
significance tests of the test BLEU, and a Mermaid chart of dev perplexity against wall-clock time),
comparison.json and dev_ppl.png (the same curves with every validation). On CPU the models are
trained at half the homework's sizes (128) unless --size says otherwise; on a GPU at the
homework's 256, with --amp.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import torch

import malloc_settings
from cs224n_nmt_plugin.text.files import read_lines, write_lines
from cs224n_nmt_plugin.text.learning_curve import mermaid_dev_ppl, read_curves
from cs224n_nmt_plugin.text.prepare import postprocess_hypothesis
from cs224n_nmt_plugin.text.scores import paired_significance, score_lines
from cs224n_nmt_plugin.text.translation_io import hypotheses_in_order, recipe_of
from fairseq_lstm_baseline import fairseq_lstm_options

REPO = Path(__file__).resolve().parents[1]
TRAIN = [sys.executable, str(REPO / "scripts" / "fairseq_train.py")]  # fairseq-train, and its peak GPU memory
GENERATE = [sys.executable, "-m", "fairseq_cli.generate"]  # fairseq-generate, wherever fairseq is installed
DATA_BIN_ROOT = Path(os.environ.get("DATA_BIN_ROOT", REPO / "data-bin"))  # as scripts/lib.sh
OUTPUTS_ROOT = Path(os.environ.get("OUTPUTS_ROOT", REPO / "outputs"))
A4_TRAINING = ["--lr", "1e-3", "--clip-norm", "5", "--batch-size", "32", "--sentence-avg", "--seed", "0"]
CROSS_ENTROPY = ["--criterion", "cross_entropy"]  # fairseq's
A4_CROSS_ENTROPY = ["--criterion", "a4_cross_entropy"]  # the same loss at the target words only (criterions/)
A4_ADAM = ["--optimizer", "a4_adam"]  # the homework's torch.optim.Adam (cs224n_nmt_plugin/optim/a4_adam.py)
FAIRSEQ_ADAM = ["--optimizer", "adam"]  # what a fairseq user reaches for
CPU_LOADING = ["--num-workers", "0"]  # scripts/train.sh's CPU recipe: batches loaded in the training process
A4_DECODING = ["--beam", "5", "--max-len-a", "0", "--max-len-b", "70", "--unnormalized",
               "--batch-size", "64", "--required-batch-size-multiple", "1"]
LINE_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"]  # one per contestant, in the PNG and the chart


def contestants(size, dropout, variants, gpu):
    """label -> fairseq-train options (architecture, optimizer, precision), and the ratios to
    report as (name, numerator label, denominator label)."""
    ours = ["--arch", "cs224n_lstm", "--embed-size", str(size), "--hidden-size", str(size), "--dropout", str(dropout)]
    device = ["--amp"] if gpu else ["--cpu"]
    loading = device if gpu else device + CPU_LOADING  # our recipe's device options; fairseq's defaults otherwise
    recipe = A4_ADAM + A4_CROSS_ENTROPY + loading  # scripts/train.sh's
    if variants == "attention":
        labels = {f"cs224n_lstm {name}": ours + ["--attention", name] + recipe
                  for name in ("multiplicative", "dot", "additive")}
        return labels, [(f"{name} / multiplicative", f"cs224n_lstm {name}", "cs224n_lstm multiplicative")
                        for name in ("dot", "additive")]
    if variants == "precision":
        return ({"cs224n_lstm float32": ours + recipe,  # (main() keeps the precision variants on the CPU)
                 "cs224n_lstm cpu-autocast bf16": ours + recipe + ["--cpu-autocast", "bf16"]},
                [("bf16 / float32", "cs224n_lstm cpu-autocast bf16", "cs224n_lstm float32")])
    theirs = fairseq_lstm_options(embed_size=size, hidden_size=size, dropout=dropout)
    labels = {
        "fairseq lstm, fairseq adam": theirs + FAIRSEQ_ADAM + CROSS_ENTROPY + device,  # a fairseq user's pipeline
        "fairseq lstm, a4_adam": theirs + A4_ADAM + CROSS_ENTROPY + loading,  # (a): the same training for both
        "cs224n_lstm, a4_adam": ours + A4_ADAM + CROSS_ENTROPY + loading,
        "cs224n_lstm, our recipe": ours + recipe,
    }
    return labels, [("(a) model alone: cs224n_lstm / fairseq lstm, both a4_adam",
                     "cs224n_lstm, a4_adam", "fairseq lstm, a4_adam"),
                    ("(b) pipeline: our recipe / fairseq lstm with fairseq adam",
                     "cs224n_lstm, our recipe", "fairseq lstm, fairseq adam"),
                    ("(c) our recipe / cs224n_lstm of (a)", "cs224n_lstm, our recipe", "cs224n_lstm, a4_adam")]


def run_measured(command, log_path):
    """Runs command with its output in log_path; returns (exit status, peak RSS in MB, seconds)."""
    start = time.perf_counter()
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=malloc_settings.environment())
        _, status, usage = os.wait4(process.pid, 0)
    return os.waitstatus_to_exitcode(status), usage.ru_maxrss / 1024, time.perf_counter() - start


def train(label, options, data_bin, run_dir, budget, validate_every):
    command = [*TRAIN, str(data_bin), "--user-dir", str(REPO / "cs224n_nmt_plugin"),
               "--task", "translation", "--source-lang", "es", "--target-lang", "en",
               *options, *A4_TRAINING, *budget,
               "--save-dir", str(run_dir / "checkpoints"), "--no-epoch-checkpoints",
               "--validate-interval-updates", str(validate_every), "--save-interval-updates", str(validate_every),
               "--keep-interval-updates", "1", "--log-format", "json", "--log-interval", str(min(50, validate_every)),
               "--no-progress-bar"]
    print(f"[compare] training {label} -> {run_dir}", flush=True)
    status, peak_rss_mb, _ = run_measured(command, run_dir / "train.log")
    if status != 0:
        sys.exit(f"[compare] error: fairseq-train of {label} failed (exit {status}); see {run_dir / 'train.log'}")
    log = (run_dir / "train.log").read_text()
    parameters = int(re.search(r"num\. shared model params: ([\d,]+)", log).group(1).replace(",", ""))
    words_per_second = [float(json.loads(line[line.index("{"):])["wps"]) for line in log.splitlines()
                        if "| train_inner |" in line]
    curves = read_curves(run_dir / "train.log")
    result = {
        "parameters": parameters,
        "train_target_tokens_per_s": sorted(words_per_second)[len(words_per_second) // 2],
        "peak_rss_mb": peak_rss_mb,
        "updates": curves.train[-1].num_updates,
        "best_dev_ppl": min(point.ppl for point in curves.valid),
    }
    peak_cuda = re.search(r"^peak_cuda_memory_mb ([\d.]+)$", log, re.M)
    if peak_cuda:
        result["peak_cuda_memory_mb"] = float(peak_cuda.group(1))
    return result, curves


def translate_and_score(label, data_bin, run_dir, device_options):
    """Decodes the test split like scripts/translate.sh; returns the scores and the hypotheses."""
    command = [*GENERATE, str(data_bin), "--user-dir", str(REPO / "cs224n_nmt_plugin"),
               "--source-lang", "es", "--target-lang", "en", "--gen-subset", "test",
               "--path", str(run_dir / "checkpoints" / "checkpoint_best.pt"), *A4_DECODING, *device_options]
    print(f"[compare] translating the test set with {label}", flush=True)
    status, _, _ = run_measured(command, run_dir / "generate-test.txt")
    if status != 0:
        sys.exit(f"[compare] error: fairseq-generate of {label} failed (exit {status}); see {run_dir / 'generate-test.txt'}")
    output = (run_dir / "generate-test.txt").read_text().splitlines()
    text_dir = data_bin / "text"
    references = (text_dir / "ref.test.en").read_text(encoding="utf-8").splitlines()
    recipe = recipe_of(text_dir)
    hypotheses = [postprocess_hypothesis(h, recipe)
                  for h in hypotheses_in_order(output, len(references), run_dir / "generate-test.txt")]
    write_lines(run_dir / "test_outputs.txt", hypotheses)
    speed = re.search(r"Translated [\d,]+ sentences .* \(([\d.]+) sentences/s", "\n".join(output))
    scores = score_lines(hypotheses, references, run_dir / "test_outputs.txt")
    return {"test_a4_bleu": scores["a4_bleu"], "test_sacrebleu": scores["sacrebleu"],
            "generate_beam5_sentences_per_s": float(speed.group(1))}, hypotheses


RATIO_METRICS = ("train_target_tokens_per_s", "peak_rss_mb", "peak_cuda_memory_mb", "best_dev_ppl", "test_a4_bleu",
                 "test_sacrebleu", "generate_beam5_sentences_per_s")


def markdown_table(results, setting):
    """One row per metric, one column per contestant."""
    labels = list(results)
    rows = [setting, "", "| metric | " + " | ".join(labels) + " |", "|---" * (1 + len(labels)) + "|"]
    for metric in results[labels[0]]:
        rows.append(f"| {metric} | " + " | ".join(f"{results[label][metric]:,.4g}" for label in labels) + " |")
    return "\n".join(rows) + "\n"


def ratio_table(results, ratios, significance):
    """The named ratios of every metric some contestant has (peak GPU memory only on a GPU), and
    whether the test BLEU difference is significant."""
    metrics = [m for m in RATIO_METRICS if any(m in result for result in results.values())]
    rows = ["| ratio | " + " | ".join(metrics) + " | sacreBLEU difference (p: bootstrap / AR; 95% CI) |",
            "|---" * (2 + len(metrics)) + "|"]
    for name, numerator, denominator in ratios:
        cells = [f"{results[numerator][m] / results[denominator][m]:.2f}" if results[denominator].get(m) else "n/a"
                 for m in metrics]
        test = significance[name]
        bootstrap, randomization = test["bootstrap"], test["approximate_randomization"]
        if test["system_bleu"] == test["baseline_bleu"]:
            verdict = "no difference"  # (sacreBLEU then reports its smallest p: a system against itself)
        elif max(bootstrap["p_value"], randomization["p_value"]) < 0.05:
            verdict = "significant at 0.05"
        else:
            verdict = "not significant at 0.05"
        cells.append(f"{test['system_bleu'] - test['baseline_bleu']:+.2f} ({verdict}: p = "
                     f"{bootstrap['p_value']:.4f} / {randomization['p_value']:.4f}; "
                     f"{bootstrap['system_mean']:.2f} ± {bootstrap['system_ci95']:.2f})")
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def plot_dev_ppl(curves_by_label, out_png):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, axes = plt.subplots(figsize=(7, 4.5), dpi=100)
    for (label, curves), color in zip(curves_by_label.items(), LINE_COLORS):
        axes.plot([p.wall_seconds / 60 for p in curves.valid], [p.ppl for p in curves.valid], "o-", label=label,
                  color=color)
    axes.set(yscale="log", xlabel="wall-clock minutes", ylabel="dev perplexity", title="dev perplexity vs wall time")
    axes.grid(True, which="both", alpha=0.3)
    axes.legend()
    figure.tight_layout()
    figure.savefig(out_png)
    plt.close(figure)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("name", help="a corpus binarized by the pipeline (data-bin/NAME)")
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--seconds", type=float, help="training wall-clock budget per model (default 600 on CPU)")
    budget.add_argument("--updates", type=int, help="training budget per model, in updates")
    parser.add_argument("--size", type=int, help="embed and hidden size (default 256 on GPU, 128 on CPU)")
    parser.add_argument("--cpu", action="store_true", help="train and decode on the CPU even where there is a GPU")
    variants = parser.add_mutually_exclusive_group()
    variants.add_argument("--attention-variants", action="store_const", const="attention", dest="variants",
                          help="compare cs224n_lstm's multiplicative, dot and additive attention instead")
    variants.add_argument("--precision-variants", action="store_const", const="precision", dest="variants",
                          help="compare cs224n_lstm in float32 and under --cpu-autocast bf16 (on the CPU)")
    args = parser.parse_args()

    data_bin = DATA_BIN_ROOT / args.name
    if not (data_bin / ".preprocess.stamp").is_file():
        sys.exit(f"[compare] error: {data_bin} is not binarized: run bash scripts/run.sh or scripts/preprocess.sh first")
    gpu = torch.cuda.is_available() and not args.cpu and args.variants != "precision"
    size = args.size or (256 if gpu else 128)
    if args.updates:
        budget, budget_text = ["--max-update", str(args.updates)], f"{args.updates} updates"
    else:
        seconds = args.seconds or (1800 if gpu else 600)
        budget, budget_text = ["--stop-time-hours", str(seconds / 3600)], f"{seconds:.0f} s of training"
    out = OUTPUTS_ROOT / args.name / ("compare" + (f"-{args.variants}" if args.variants else ""))
    setting = (f"Corpus {args.name}, {'GPU' if gpu else 'CPU'} ({torch.get_num_threads()} threads), "
               f"embed = hidden = {size}, dropout 0.3, batch 32, lr 1e-3, clip 5, seed 0, budget {budget_text} "
               f"per model; test decoding: beam 5, at most 70 steps.")

    labels, ratios = contestants(size, 0.3, args.variants, gpu)
    results, curves, hypotheses = {}, {}, {}
    for label, options in labels.items():
        run_dir = out / re.sub(r"[^\w.-]+", "_", label)
        shutil.rmtree(run_dir, ignore_errors=True)  # every comparison trains from scratch
        run_dir.mkdir(parents=True)
        validate_every = 500 if not args.updates else max(1, args.updates // 10)
        results[label], curves[label] = train(label, options, data_bin, run_dir, budget, validate_every)
        scores, hypotheses[label] = translate_and_score(label, data_bin, run_dir, ["--cpu"] if "--cpu" in options else [])
        results[label].update(scores)

    references = read_lines(data_bin / "text" / "ref.test.en")
    significance = {name: paired_significance(hypotheses[denominator], hypotheses[numerator], references)
                    for name, numerator, denominator in ratios}
    table = markdown_table(results, setting) + "\n" + ratio_table(results, ratios, significance)
    try:
        chart = mermaid_dev_ppl({label: c.valid for label, c in curves.items()}, LINE_COLORS)
    except ValueError as error:  # e.g. runs shorter than a minute
        chart = f"(no chart of dev perplexity against wall time: {error})\n"
    write_lines(out / "comparison.md", (table + "\n" + chart).splitlines())
    write_lines(out / "comparison.json", json.dumps({"setting": setting, "results": results, "ratios": ratios,
                                                     "significance": significance}, indent=2).splitlines())
    plot_dev_ppl(curves, out / "dev_ppl.png")
    print(table)
    print(f"[compare] wrote {out / 'comparison.md'}, comparison.json and dev_ppl.png")


if __name__ == "__main__":
    main()
