"""Side by side: cs224n_lstm against fairseq's built-in lstm (its closest match), or the
three attention variants, trained on the same binarized corpus with the same batch size,
optimizer, seed and budget, then decoded and scored the same way.

    .venv/bin/python scripts/compare.py NAME [--seconds S | --updates N] [--attention-variants]

NAME is a corpus already prepared and binarized by the pipeline (data-bin/NAME). Writes
outputs/NAME/compare[-attention]/: one folder per model (checkpoints, train.log,
generate-test.txt, test_outputs.txt), comparison.md (the table and a Mermaid chart of dev
perplexity against wall-clock time), comparison.json and dev_ppl.png (the same curves with every
validation). On CPU the models are trained at half the homework's sizes (128) unless --size says
otherwise; on a GPU at the homework's 256, with --amp.
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
from cs224n_nmt_plugin.text.files import write_lines
from cs224n_nmt_plugin.text.learning_curve import mermaid_dev_ppl, read_curves
from cs224n_nmt_plugin.text.prepare import postprocess_hypothesis
from cs224n_nmt_plugin.text.scores import score_lines
from cs224n_nmt_plugin.text.translation_io import hypotheses_in_order, recipe_of
from fairseq_lstm_baseline import fairseq_lstm_options

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
A4_OPTIMISATION = ["--optimizer", "adam", "--lr", "1e-3", "--clip-norm", "5", "--batch-size", "32",
                   "--criterion", "cross_entropy", "--sentence-avg", "--seed", "0"]
A4_DECODING = ["--beam", "5", "--max-len-a", "0", "--max-len-b", "70", "--unnormalized",
               "--batch-size", "64", "--required-batch-size-multiple", "1"]
LINE_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c"]  # one per model, in the PNG and in the markdown chart


def contestants(size, dropout, attention_variants):
    """label -> fairseq-train architecture options; the first label is the reference of the ratios."""
    ours = ["--arch", "cs224n_lstm", "--embed-size", str(size), "--hidden-size", str(size), "--dropout", str(dropout)]
    if attention_variants:
        return {f"cs224n_lstm {name}": ours + ["--attention", name] for name in ("multiplicative", "dot", "additive")}
    return {"fairseq lstm": fairseq_lstm_options(embed_size=size, hidden_size=size, dropout=dropout), "cs224n_lstm": ours}


def run_measured(command, log_path):
    """Runs command with its output in log_path; returns (exit status, peak RSS in MB, seconds)."""
    start = time.perf_counter()
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=malloc_settings.environment())
        _, status, usage = os.wait4(process.pid, 0)
    return os.waitstatus_to_exitcode(status), usage.ru_maxrss / 1024, time.perf_counter() - start


def train(label, arch_options, data_bin, run_dir, budget, device_options, validate_every):
    command = [str(BIN / "fairseq-train"), str(data_bin), "--user-dir", str(REPO / "cs224n_nmt_plugin"),
               "--task", "translation", "--source-lang", "es", "--target-lang", "en",
               *arch_options, *A4_OPTIMISATION, *budget, *device_options,
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
    return {
        "parameters": parameters,
        "train_target_tokens_per_s": sorted(words_per_second)[len(words_per_second) // 2],
        "peak_rss_mb": peak_rss_mb,
        "updates": curves.train[-1].num_updates,
        "best_dev_ppl": min(point.ppl for point in curves.valid),
    }, curves


def translate_and_score(label, data_bin, run_dir, device_options):
    command = [str(BIN / "fairseq-generate"), str(data_bin), "--user-dir", str(REPO / "cs224n_nmt_plugin"),
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
            "generate_beam5_sentences_per_s": float(speed.group(1))}


def markdown_table(results, setting, reference):
    """One row per metric, one column per model, then each other model's ratio to ``reference``."""
    labels = list(results)
    others = [label for label in labels if label != reference]
    header = "| metric | " + " | ".join(labels) + " | " + " | ".join(f"{l} / {reference}" for l in others) + " |"
    rows = [setting, "", header, "|---" * (1 + len(labels) + len(others)) + "|"]
    for metric in results[reference]:
        values = [results[label][metric] for label in labels]
        base = results[reference][metric]
        ratios = [results[label][metric] / base if base else float("nan") for label in others]
        rows.append(f"| {metric} | " + " | ".join(f"{v:,.4g}" for v in values) + " | "
                    + " | ".join(f"{r:.2f}" for r in ratios) + " |")
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
    budget.add_argument("--seconds", type=float, help="training wall-clock budget per model (default 720 on CPU)")
    budget.add_argument("--updates", type=int, help="training budget per model, in updates")
    parser.add_argument("--size", type=int, help="embed and hidden size (default 256 on GPU, 128 on CPU)")
    parser.add_argument("--attention-variants", action="store_true",
                        help="compare cs224n_lstm's multiplicative, dot and additive attention instead")
    args = parser.parse_args()

    data_bin = REPO / "data-bin" / args.name
    if not (data_bin / ".preprocess.stamp").is_file():
        sys.exit(f"[compare] error: {data_bin} is not binarized: run bash scripts/run.sh or scripts/preprocess.sh first")
    gpu = torch.cuda.is_available()
    size = args.size or (256 if gpu else 128)
    device_options = ["--amp"] if gpu else ["--cpu"]
    if args.updates:
        budget, budget_text = ["--max-update", str(args.updates)], f"{args.updates} updates"
    else:
        seconds = args.seconds or (1800 if gpu else 720)
        budget, budget_text = ["--stop-time-hours", str(seconds / 3600)], f"{seconds:.0f} s of training"
    out = REPO / "outputs" / args.name / ("compare-attention" if args.attention_variants else "compare")
    setting = (f"Corpus {args.name}, {'GPU' if gpu else 'CPU'} ({torch.get_num_threads()} threads), "
               f"embed = hidden = {size}, dropout 0.3, batch 32, Adam 1e-3, clip 5, seed 0, budget {budget_text} "
               f"per model; test decoding: beam 5, at most 70 steps.")

    results, curves = {}, {}
    for label, arch_options in contestants(size, 0.3, args.attention_variants).items():
        run_dir = out / label.replace(" ", "_")
        shutil.rmtree(run_dir, ignore_errors=True)  # every comparison trains from scratch
        run_dir.mkdir(parents=True)
        validate_every = 500 if not args.updates else max(1, args.updates // 10)
        results[label], curves[label] = train(label, arch_options, data_bin, run_dir, budget, device_options,
                                              validate_every)
        results[label].update(translate_and_score(label, data_bin, run_dir, device_options))

    table = markdown_table(results, setting, reference=next(iter(results)))
    try:
        chart = mermaid_dev_ppl({label: c.valid for label, c in curves.items()}, LINE_COLORS)
    except ValueError as error:  # e.g. runs shorter than a minute
        chart = f"(no chart of dev perplexity against wall time: {error})\n"
    write_lines(out / "comparison.md", (table + "\n" + chart).splitlines())
    write_lines(out / "comparison.json", json.dumps({"setting": setting, "results": results},
                                                              indent=2).splitlines())
    plot_dev_ppl(curves, out / "dev_ppl.png")
    print(table)
    print(f"[compare] wrote {out / 'comparison.md'}, comparison.json and dev_ppl.png")


if __name__ == "__main__":
    main()
