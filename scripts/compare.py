"""Side by side, trained on the same binarized corpus with the same batch size, seed and budget,
in alternating rounds, then decoded and scored the same way:

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

    .venv/bin/python scripts/compare.py NAME [--updates N | --seconds S] [--rounds R] [--size N]
                                             [--search homework|fairseq] [--fresh] [VARIANTS]

NAME is a corpus already prepared and binarized by the pipeline (data-bin/NAME).

The budget (N updates or S seconds of training per model) is split into R rounds (default: twice
the number of models). In each round every model trains one slice, resuming from its own
checkpoint_last.pt (fairseq's exact resume: the same batches and losses as one uninterrupted
run), in an order that rotates between rounds, so that a slow period of the machine falls on all
of them (compare_rounds.py says why). Throughput is measured round by round; a ratio of two
models is the median of their per-round ratios, with its range. Then every model is brought to
the other measure of equal work, one resume each: after rounds of updates, the faster models
train on to the slowest one's training time; after rounds of seconds, the models with fewer
updates train on to the most. So dev perplexity and test BLEU are reported at equal updates and
at equal training time, with sacreBLEU's paired significance tests at each. --rounds 1 trains the
models one after another (no spread: the ratios may be the machine's drift).

Writes outputs/NAME/compare[-attention|-precision]/: settings.json (first: a comparison run again
with the same settings resumes, with other settings it is refused), progress.json (every
finished round), one folder per model (checkpoints, logs/ of every round, the decoded test
split), comparison.md (the tables and a Mermaid chart of dev perplexity against training time),
comparison.json and dev_ppl.png. On CPU the models are trained at half the homework's sizes
(128) unless --size says otherwise; on a GPU at the homework's 256, with --amp.
"""
import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import torch

import malloc_settings
from compare_rounds import (
    BudgetError,
    catch_up_targets,
    make_plan,
    ratio_summary,
    read_round_log,
    rotated,
    round_orders,
    spread,
    timed_dev_points,
)
from cs224n_nmt_plugin.errors import InputError
from cs224n_nmt_plugin.preflight import UnreadableCheckpoint, load_checkpoint, num_updates
from cs224n_nmt_plugin.settings import SEARCHES, data_bin_dir, decoding_summary
from cs224n_nmt_plugin.settings import run_dir as outputs_dir
from cs224n_nmt_plugin.text.files import copy_writer, read_lines, text_writer, write_files, write_lines
from cs224n_nmt_plugin.text.learning_curve import Point, mermaid_dev_ppl
from cs224n_nmt_plugin.text.scores import paired_significance, score_lines
from decode_test_split import DecodingFailed, decode_test_split
from fairseq_lstm_baseline import fairseq_lstm_options

REPO = Path(__file__).resolve().parents[1]
TRAIN = [sys.executable, str(REPO / "scripts" / "fairseq_train.py")]  # fairseq-train, and its peak GPU memory
A4_TRAINING = ["--lr", "1e-3", "--clip-norm", "5", "--batch-size", "32", "--sentence-avg", "--seed", "0"]
# Each epoch's batches from seed + epoch, so that a resumed process forms the batches an uninterrupted
# one would (scripts/train.sh says more).
EXACT_RESUME = ["--update-epoch-batch-itr", "True"]
CROSS_ENTROPY = ["--criterion", "cross_entropy"]  # fairseq's
A4_CROSS_ENTROPY = ["--criterion", "a4_cross_entropy"]  # the same loss at the target words only (criterions/)
A4_ADAM = ["--optimizer", "a4_adam"]  # the homework's torch.optim.Adam (cs224n_nmt_plugin/optim/a4_adam.py)
FAIRSEQ_ADAM = ["--optimizer", "adam"]  # what a fairseq user reaches for
CPU_LOADING = ["--num-workers", "0"]  # scripts/train.sh's CPU recipe: batches loaded in the training process
LINE_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728"]  # one per contestant, in the PNG and the chart
ROUNDS, CATCH_UP = "rounds", "catch-up"  # the two phases of training
AFTER_ROUNDS, AFTER_CATCH_UP = "after-rounds", "after-catch-up"  # the checkpoints decoded
POINTS = {"equal_updates": "at equal updates", "equal_time": "at equal training time"}


def fail(message):
    sys.exit(f"[compare] error: {message}")


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
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "w") as log:
        process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=malloc_settings.environment())
        _, status, usage = os.wait4(process.pid, 0)
    return os.waitstatus_to_exitcode(status), usage.ru_maxrss / 1024, time.perf_counter() - start


def training_command(options, data_bin, save_dir, target, log_interval):
    """fairseq-train of one model from (or resuming at) save_dir/checkpoint_last.pt up to ``target``.
    It validates and saves where it stops and at the end of every epoch."""
    return [*TRAIN, str(data_bin), "--user-dir", str(REPO / "cs224n_nmt_plugin"),
            "--task", "translation", "--source-lang", "es", "--target-lang", "en",
            *options, *A4_TRAINING, *EXACT_RESUME, *target.stop_options(),
            "--save-dir", str(save_dir), "--no-epoch-checkpoints",
            "--log-format", "json", "--log-interval", str(log_interval), "--no-progress-bar"]


def checkpoint_progress(save_dir):
    """(updates, fairseq's cumulative training seconds) of save_dir/checkpoint_last.pt; (0, 0) before any."""
    path = save_dir / "checkpoint_last.pt"
    if not path.exists():
        return 0, 0.0
    try:
        state = load_checkpoint(path)
    except UnreadableCheckpoint as error:
        state = replace_by_best(save_dir, error)
    except InputError as error:
        fail(f"{error}: move {save_dir.parent} away to train that model from the start")
    return num_updates(state), float(state["extra_state"]["previous_training_time"])


def replace_by_best(save_dir, damage):
    """fairseq writes a save's first file atomically but copies it to checkpoint_last.pt, so a kill
    during that copy leaves a truncated checkpoint_last.pt beside a whole checkpoint_best.pt of the
    same save (compare.py keeps no other checkpoints): that one takes its place."""
    best = save_dir / "checkpoint_best.pt"
    try:
        state = load_checkpoint(best)
    except InputError:
        fail(f"{damage}; {best} is not readable either: move {save_dir.parent} away to train that model from the start")
    write_files({save_dir / "checkpoint_last.pt": copy_writer(best)})
    print(f"[compare] {damage.path} was damaged (a kill during fairseq's copy?): replaced by {best.name}", flush=True)
    return state


@dataclass
class Comparison:
    """One comparison's settings, folder and progress (progress.json: every finished round,
    snapshot and decoding, so that a comparison run again resumes after them)."""
    out: Path
    data_bin: Path
    plan: object  # compare_rounds.Plan
    contestants: dict
    ratios: list
    search: str
    progress: dict = field(default_factory=lambda: {"records": [], "snapshots": {}, "decodes": {}})

    def run_dir(self, label):
        return self.out / re.sub(r"[^\w.-]+", "_", label)

    def save_dir(self, label):
        return self.run_dir(label) / "checkpoints"

    def save_progress(self):
        write_lines(self.out / "progress.json", json.dumps(self.progress, indent=1).splitlines())

    def records(self, label, phases=(ROUNDS, CATCH_UP)):
        return [r for r in self.progress["records"] if r["label"] == label and r["phase"] in phases]

    def record(self, phase, round_number, label):
        return next((r for r in self.records(label, (phase,)) if r["round"] == round_number), None)


def open_comparison(out, settings, fresh):
    """The progress of an unfinished comparison with the same settings in ``out``, or a new one
    (settings.json written first); refuses other settings and folders of unknown origin."""
    if fresh and out.exists():
        shutil.rmtree(out)
    settings_path = out / "settings.json"
    if settings_path.is_file():
        earlier = json.loads(settings_path.read_text())
        differing = sorted(key for key in settings.keys() | earlier.keys() if settings.get(key) != earlier.get(key))
        if differing:
            fail(f"{out} holds a comparison with other settings ({', '.join(differing)}; see its settings.json): "
                 "run it with those to resume it, or pass --fresh to start over")
        progress_path = out / "progress.json"
        if progress_path.is_file():
            print(f"[compare] resuming the comparison in {out}", flush=True)
            return json.loads(progress_path.read_text())
        return None
    if out.exists() and any(out.iterdir()):
        fail(f"{out} holds files but no settings.json (an earlier compare.py's?): "
             "move it away or pass --fresh to start over")
    write_lines(settings_path, json.dumps(settings, indent=2).splitlines())
    return None


def train_once(comparison, label, phase, round_number, target):
    """One process of one model: resumes it up to ``target``, records what its log says."""
    if comparison.record(phase, round_number, label):
        return
    save_dir = comparison.save_dir(label)
    log_path = comparison.run_dir(label) / "logs" / f"{phase}-{round_number:02d}.log"
    peak_rss_mb = process_seconds = None  # unknown when an earlier run finished the process but not its record
    if not target.reached(*checkpoint_progress(save_dir)):
        what = f"round {round_number}/{comparison.plan.rounds}" if phase == ROUNDS else "catch-up"
        print(f"[compare] {what}: training {label} to {target.describe()}", flush=True)
        command = training_command(comparison.contestants[label], comparison.data_bin, save_dir, target,
                                   comparison.plan.log_interval)
        status, peak_rss_mb, process_seconds = run_measured(command, log_path)
        if status != 0:
            fail(f"fairseq-train of {label} failed (exit {status}); see {log_path}")
    updates, seconds = checkpoint_progress(save_dir)
    if not target.reached(updates, seconds):
        fail(f"fairseq-train of {label} stopped at {updates:,} updates and {seconds:,.1f} s of training, "
             f"short of {target.describe()}; see {log_path}")
    log = read_round_log(log_path.read_text(), comparison.plan.log_interval)
    if phase == ROUNDS and not log.counted_intervals:
        fail(f"{log_path}: round {round_number} of {label} logged under two intervals of "
             f"{comparison.plan.log_interval} updates (the first of a process is not counted): "
             f"give each round more {comparison.plan.kind}")
    comparison.progress["records"].append({
        "phase": phase, "round": round_number, "label": label, "updates": updates, "seconds": seconds,
        "target_tokens": log.tokens, "train_seconds": log.seconds, "peak_rss_mb": peak_rss_mb,
        "process_seconds": process_seconds, "peak_cuda_memory_mb": log.peak_cuda_memory_mb,
        "parameters": log.parameters, "resumed_from": log.resumed_from, "train_losses": log.train_losses,
        "valid": log.valid,
    })
    comparison.save_progress()


def train_in_rounds(comparison):
    labels = list(comparison.contestants)
    for round_number, order in enumerate(round_orders(labels, comparison.plan.rounds), start=1):
        for label in order:
            train_once(comparison, label, ROUNDS, round_number, comparison.plan.target(round_number))


def snapshot_after_rounds(comparison):
    """Keeps every model's best checkpoint of the rounds, before the catch-up trains it further."""
    for label in comparison.contestants:
        if label not in comparison.progress["snapshots"]:
            snapshot = comparison.run_dir(label) / "checkpoint_best_after_rounds.pt"
            write_files({snapshot: copy_writer(comparison.save_dir(label) / "checkpoint_best.pt")})
            comparison.progress["snapshots"][label] = str(snapshot)
            comparison.save_progress()


def catch_up(comparison):
    """Brings every model to the other measure of equal work, in the rotation's next order."""
    ends = {label: (comparison.records(label, (ROUNDS,))[-1]["updates"],
                    comparison.records(label, (ROUNDS,))[-1]["seconds"]) for label in comparison.contestants}
    targets = catch_up_targets(comparison.plan, ends)
    for label in rotated(comparison.contestants, comparison.plan.rounds):
        if targets[label]:
            train_once(comparison, label, CATCH_UP, 1, targets[label])


def checkpoints_to_decode(comparison, label):
    """{which: checkpoint}: the best of the rounds, and the best after a catch-up if it trained on."""
    checkpoints = {AFTER_ROUNDS: Path(comparison.progress["snapshots"][label])}
    if comparison.records(label, (CATCH_UP,)):
        checkpoints[AFTER_CATCH_UP] = comparison.save_dir(label) / "checkpoint_best.pt"
    return checkpoints


def translate_and_score(comparison, label, which, checkpoint):
    """Decodes the test split like scripts/translate.sh; returns the scores and the hypotheses' file."""
    folder = comparison.run_dir(label) / f"test-{which}"
    print(f"[compare] translating the test set with {label} ({checkpoint.name})", flush=True)
    try:
        decoded = decode_test_split(comparison.data_bin, checkpoint, comparison.search, folder,
                                    cpu="--cpu" in comparison.contestants[label])
    except DecodingFailed as error:
        fail(f"{label}: {error}")
    references = read_lines(comparison.data_bin / "text" / "ref.test.en")
    scores = score_lines(decoded.hypotheses, references, folder / "test_outputs.txt")
    return {"test_a4_bleu": scores["a4_bleu"], "test_sacrebleu": scores["sacrebleu"],
            "generate_beam5_sentences_per_s": decoded.sentences_per_s, "hypotheses": str(folder / "test_outputs.txt")}


def decode_all(comparison):
    for label in comparison.contestants:
        decodes = comparison.progress["decodes"].setdefault(label, {})
        for which, checkpoint in checkpoints_to_decode(comparison, label).items():
            if which not in decodes or not Path(decodes[which]["hypotheses"]).is_file():
                decodes[which] = translate_and_score(comparison, label, which, checkpoint)
                comparison.save_progress()


def point_figures(records, decode):
    """A model's figures at the end of ``records`` (its processes up to a point), decoded by ``decode``."""
    return {"updates": records[-1]["updates"], "training_seconds": records[-1]["seconds"],
            "best_dev_ppl": min(ppl for record in records for _, ppl in record["valid"]),
            **{key: value for key, value in decode.items() if key != "hypotheses"}}


def which_at(comparison, label):
    """{point: which checkpoint's figures}: the rounds end at equal work of the plan's kind; the
    catch-up (where a model needed one) brings it to the other."""
    after = AFTER_CATCH_UP if comparison.records(label, (CATCH_UP,)) else AFTER_ROUNDS
    if comparison.plan.kind == "updates":
        return {"equal_updates": AFTER_ROUNDS, "equal_time": after}
    return {"equal_updates": after, "equal_time": AFTER_ROUNDS}


def largest(values):
    known = [value for value in values if value is not None]
    return max(known) if known else None


def contestant_results(comparison, label):
    rounds = comparison.records(label, (ROUNDS,))
    throughput = spread([r["target_tokens"] / r["train_seconds"] for r in rounds])
    result = {
        "parameters": next(r["parameters"] for r in rounds if r["parameters"]),
        "rounds": len(rounds),
        "train_target_tokens_per_s": throughput["median"],
        "train_target_tokens_per_s_range": [throughput["low"], throughput["high"]],
        "peak_rss_mb": largest(r["peak_rss_mb"] for r in comparison.records(label)),
    }
    peak_cuda = largest(r["peak_cuda_memory_mb"] for r in comparison.records(label))
    if peak_cuda is not None:
        result["peak_cuda_memory_mb"] = peak_cuda
    decodes = comparison.progress["decodes"][label]
    for point, which in which_at(comparison, label).items():
        records = rounds if which == AFTER_ROUNDS else comparison.records(label)
        result[point] = point_figures(records, decodes[which])
    return result


def round_rates(comparison, label):
    return [r["target_tokens"] / r["train_seconds"] for r in comparison.records(label, (ROUNDS,))]


def significance_at_points(comparison):
    """{point: {ratio name: sacreBLEU's paired tests}} of the test translations at each point."""
    references = read_lines(comparison.data_bin / "text" / "ref.test.en")
    tested = {}
    result = {}
    for point in POINTS:
        result[point] = {}
        for name, numerator, denominator in comparison.ratios:
            files = tuple(comparison.progress["decodes"][label][which_at(comparison, label)[point]]["hypotheses"]
                          for label in (denominator, numerator))
            if files not in tested:
                tested[files] = paired_significance(read_lines(files[0]), read_lines(files[1]), references)
            result[point][name] = tested[files]
    return result


def setting_line(comparison, settings):
    plan = comparison.plan
    unit = "updates" if plan.kind == "updates" else "s of training"
    slice_text = f"{plan.slice:,.0f} {unit}" if plan.kind == "updates" else f"{plan.slice:,.1f} {unit}"
    if plan.rounds == 1:
        schedule = "in 1 round: the models trained one after another (no spread)"
    else:
        schedule = (f"in {plan.rounds} rounds of {slice_text} (round i starts with model i mod "
                    f"{len(comparison.contestants)}; each resumes from its own checkpoint)")
    catch_up_text = ("then the faster models trained on to the slowest one's training time" if plan.kind == "updates"
                     else "then the models with fewer updates trained on to the most")
    threads = settings["cpu_threads"]
    return (f"Corpus {settings['corpus']}, {settings['device']} ({threads} thread{'s' * (threads != 1)}), "
            f"embed = hidden = {settings['size']}, dropout 0.3, batch 32, lr 1e-3, clip 5, seed 0; budget "
            f"{plan.amount:,.0f} {unit} per model {schedule}, {catch_up_text} (one resume each); "
            f"test decoding: {decoding_summary(comparison.search)}.")


def number(value):
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def ratio(numerator, denominator):
    return f"{numerator / denominator:.2f}" if denominator else "n/a"


def contestant_table(results):
    """One row per figure, one column per model; the figures at each point in their own rows."""
    labels = list(results)
    rounds = results[labels[0]]["rounds"]
    rows = ["| | " + " | ".join(labels) + " |", "|---" * (1 + len(labels)) + "|",
            "| parameters | " + " | ".join(number(results[label]["parameters"]) for label in labels) + " |",
            f"| train target tokens/s: median of {rounds} rounds (range) | " + " | ".join(
                "{} ({}–{})".format(*map(number, [results[label]["train_target_tokens_per_s"],
                                                  *results[label]["train_target_tokens_per_s_range"]]))
                for label in labels) + " |"]
    for metric, name in (("peak_rss_mb", "peak RSS MB"), ("peak_cuda_memory_mb", "peak GPU memory MB")):
        if all(results[label].get(metric) is not None for label in labels):
            rows.append(f"| {name} | " + " | ".join(number(results[label][metric]) for label in labels) + " |")
    for point, point_name in POINTS.items():
        for metric, name in (("updates", "updates"), ("training_seconds", "training seconds (fairseq's clock)"),
                             ("best_dev_ppl", "best dev ppl"), ("test_a4_bleu", "test a4 BLEU"),
                             ("test_sacrebleu", "test sacreBLEU"),
                             ("generate_beam5_sentences_per_s", "test decoding sentences/s")):
            rows.append(f"| {point_name}: {name} | "
                        + " | ".join(number(results[label][point][metric]) for label in labels) + " |")
    return "\n".join(rows) + "\n"


def speed_table(results, throughput, ratios):
    """The throughput ratios from the paired rounds, and the ratios of the other resources."""
    rounds = next(iter(throughput.values()))["rounds"]
    compared = [label for _, numerator, denominator in ratios for label in (numerator, denominator)]
    extra = [(m, n) for m, n in (("peak_rss_mb", "peak RSS"), ("peak_cuda_memory_mb", "peak GPU memory"))
             if all(results[label].get(m) for label in compared)]
    rows = [f"| ratio | train target tokens/s: median of {rounds} per-round ratios | range | rounds above 1 | "
            "verdict | " + " | ".join(name for _, name in extra) + " | test decoding sentences/s (equal updates) |",
            "|---" * (6 + len(extra)) + "|"]
    for name, numerator, denominator in ratios:
        summary = throughput[name]
        cells = [f"{summary['median']:.2f}", f"{summary['low']:.2f}–{summary['high']:.2f}",
                 f"{summary['above_one']} of {summary['rounds']}", summary["verdict"]]
        cells += [ratio(results[numerator][metric], results[denominator][metric]) for metric, _ in extra]
        speeds = [results[label]["equal_updates"]["generate_beam5_sentences_per_s"]
                  for label in (numerator, denominator)]
        cells.append(ratio(*speeds))
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def significance_cell(test):
    bootstrap, randomization = test["bootstrap"], test["approximate_randomization"]
    if test["system_bleu"] == test["baseline_bleu"]:
        verdict = "no difference"  # (sacreBLEU then reports its smallest p: a system against itself)
    elif max(bootstrap["p_value"], randomization["p_value"]) < 0.05:
        verdict = "significant at 0.05"
    else:
        verdict = "not significant at 0.05"
    return (f"{test['system_bleu'] - test['baseline_bleu']:+.2f} ({verdict}: p = {bootstrap['p_value']:.4f} / "
            f"{randomization['p_value']:.4f}; {bootstrap['system_mean']:.2f} ± {bootstrap['system_ci95']:.2f})")


def quality_table(results, ratios, significance):
    """The quality ratios at equal updates and at equal training time, and whether the test BLEU
    difference is significant there."""
    rows = ["| ratio | at | updates | training seconds | best dev ppl | test a4 BLEU | test sacreBLEU | "
            "sacreBLEU difference (p: bootstrap / AR; 95% CI) |", "|---" * 8 + "|"]
    for name, numerator, denominator in ratios:
        for point, point_name in POINTS.items():
            top, bottom = results[numerator][point], results[denominator][point]
            cells = [ratio(top[m], bottom[m]) for m in ("updates", "training_seconds", "best_dev_ppl",
                                                            "test_a4_bleu", "test_sacrebleu")]
            rows.append(f"| {name} | {point_name} | " + " | ".join(cells) + " | "
                        + significance_cell(significance[point][name]) + " |")
    return "\n".join(rows) + "\n"


def notes(plan):
    clock = ("fairseq's clock, the one --stop-time-hours reads (it runs from each process's data loading on, "
             "validations included)")
    if plan.kind == "updates":
        points = ("At equal updates: the end of the rounds, every model after the same updates (the same batches), "
                  "figures that do not depend on the machine's speed. At equal training time: the faster models then "
                  f"trained on, one resume each, to the slowest one's training time by {clock}.")
    else:
        points = ("At equal training time: the end of the rounds, every model after the same training time by "
                  f"{clock}. At equal updates: the models with fewer updates then trained on, one resume each, to the "
                  "most updates (the same batches).")
    return (
        "Throughput: target tokens per second of training in each round, from fairseq's train_inner intervals "
        "(the first of each process left out: it holds the previous round's closing validation). A ratio is the "
        "median of the two models' per-round ratios (the same round, close in time). A model is called faster only "
        "where it was faster in every round and that is unlikely to be chance: were neither faster, every round "
        "would agree with probability 2^(1 - rounds) (a sign test), under 0.05 from 6 rounds on. Where the range "
        "crosses 1.0, neither is called faster.\n\n"
        f"{points}\n\n"
        "Significance: sacreBLEU's paired bootstrap resampling (1,000 samples) and approximate randomization "
        "(10,000 trials) test these two sets of test translations: whether the BLEU difference holds over the test "
        "sentences, for this one training run of each model; not whether another seed, budget or machine would "
        "give it. The throughput verdict beside it is the test of speed.\n"
    )


def dev_points(comparison, label):
    """Dev perplexity points of one model at fairseq's cumulative training time (learning_curve.Point)."""
    segments, start = [], (0, 0.0)
    for record in comparison.records(label):
        end = (record["updates"], record["seconds"])
        segments.append((start, end, record["valid"]))
        start = end
    return [Point(updates, seconds, 0.0, ppl) for updates, seconds, ppl in timed_dev_points(segments)]


def dev_ppl_plotter(points_by_label):
    """A writer for write_files: the PNG of dev perplexity against updates and against training time."""
    def write(path):
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib import pyplot as plt

        figure, (by_updates, by_minutes) = plt.subplots(1, 2, figsize=(12, 4.5), dpi=100)
        for (label, points), color in zip(points_by_label.items(), LINE_COLORS):
            ppl = [p.ppl for p in points]
            by_updates.plot([p.num_updates for p in points], ppl, "o-", label=label, color=color)
            by_minutes.plot([p.wall_seconds / 60 for p in points], ppl, "o-", label=label, color=color)
        for axes, xlabel in ((by_updates, "updates"), (by_minutes, "training minutes (fairseq's clock)")):
            axes.set(yscale="log", xlabel=xlabel, ylabel="dev perplexity")
            axes.grid(True, which="both", alpha=0.3)
            axes.legend()
        figure.suptitle("dev perplexity")
        figure.tight_layout()
        try:
            figure.savefig(path, format="png")
        finally:
            plt.close(figure)
    return write


def report(comparison, settings):
    labels = list(comparison.contestants)
    results = {label: contestant_results(comparison, label) for label in labels}
    rates = {label: round_rates(comparison, label) for label in labels}
    throughput = {name: ratio_summary(rates[numerator], rates[denominator])
                  for name, numerator, denominator in comparison.ratios}
    significance = significance_at_points(comparison)
    setting = setting_line(comparison, settings)
    table = "\n".join([setting, "", contestant_table(results), speed_table(results, throughput, comparison.ratios),
                       quality_table(results, comparison.ratios, significance), notes(comparison.plan)])
    points = {label: dev_points(comparison, label) for label in labels}
    try:
        chart = mermaid_dev_ppl(points, LINE_COLORS)
    except ValueError as error:  # e.g. runs shorter than a minute
        chart = f"(no chart of dev perplexity against training time: {error})\n"
    out = comparison.out
    summary = {"setting": setting, "settings": settings, "results": results, "ratios": comparison.ratios,
               "throughput_ratios": throughput, "significance": significance,
               "rounds": comparison.progress["records"]}
    write_files({out / "comparison.md": text_writer(table + "\n" + chart),
                 out / "comparison.json": text_writer(json.dumps(summary, indent=2) + "\n"),
                 out / "dev_ppl.png": dev_ppl_plotter(points)})
    print(table)
    print(f"[compare] wrote {out / 'comparison.md'}, comparison.json and dev_ppl.png")


def parse_arguments(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("name", help="a corpus binarized by the pipeline (data-bin/NAME)")
    budget = parser.add_mutually_exclusive_group()
    budget.add_argument("--updates", type=int, help="training budget per model, in updates")
    budget.add_argument("--seconds", type=float,
                        help="training budget per model, in seconds (default 600 on CPU, 1800 on GPU)")
    parser.add_argument("--rounds", type=int,
                        help="rounds the budget is split into (default: twice the number of models, so that each "
                             "starts a round as often as the others); 1 trains the models one after another")
    parser.add_argument("--size", type=int, help="embed and hidden size (default 256 on GPU, 128 on CPU)")
    parser.add_argument("--search", choices=SEARCHES, default="homework",
                        help="the test decoding's beam search, the same for every model (default: homework)")
    parser.add_argument("--cpu", action="store_true", help="train and decode on the CPU even where there is a GPU")
    parser.add_argument("--fresh", action="store_true",
                        help="remove the output folder's earlier comparison first instead of resuming it")
    variants = parser.add_mutually_exclusive_group()
    variants.add_argument("--attention-variants", action="store_const", const="attention", dest="variants",
                          help="compare cs224n_lstm's multiplicative, dot and additive attention instead")
    variants.add_argument("--precision-variants", action="store_const", const="precision", dest="variants",
                          help="compare cs224n_lstm in float32 and under --cpu-autocast bf16 (on the CPU)")
    return parser.parse_args(argv)


def comparison_settings(args, data_bin, gpu, size, labels, ratios, plan):
    """Everything that must match for a comparison to be resumed."""
    stamp = data_bin / ".preprocess.stamp"
    return json.loads(json.dumps({
        "corpus": args.name, "data_bin": str(data_bin), "data_bin_stamp": [stamp.read_text(), stamp.stat().st_mtime_ns],
        "device": "GPU" if gpu else "CPU", "cpu_threads": torch.get_num_threads(), "size": size,
        "variants": args.variants, "budget": {"kind": plan.kind, "amount": plan.amount}, "rounds": plan.rounds,
        "search": args.search, "contestants": labels, "ratios": ratios,
    }))


def main(argv=None):
    args = parse_arguments(argv)
    gpu = torch.cuda.is_available() and not args.cpu and args.variants != "precision"
    size = args.size or (256 if gpu else 128)
    labels, ratios = contestants(size, 0.3, args.variants, gpu)
    if args.updates is not None:
        kind, amount = "updates", args.updates
    else:
        kind, amount = "seconds", args.seconds or (1800 if gpu else 600)
    try:
        plan = make_plan(kind, amount, args.rounds or 2 * len(labels))
    except BudgetError as error:
        fail(error)
    try:
        data_bin, run_dir = data_bin_dir(args.name), outputs_dir(args.name)
    except ValueError as error:
        fail(error)
    if not (data_bin / ".preprocess.stamp").is_file():
        fail(f"{data_bin} is not binarized: run bash scripts/run.sh or scripts/preprocess.sh first")
    out = run_dir / ("compare" + (f"-{args.variants}" if args.variants else ""))
    settings = comparison_settings(args, data_bin, gpu, size, labels, ratios, plan)
    comparison = Comparison(out, data_bin, plan, labels, ratios, args.search)
    comparison.progress = open_comparison(out, settings, args.fresh) or comparison.progress
    train_in_rounds(comparison)
    snapshot_after_rounds(comparison)
    catch_up(comparison)
    decode_all(comparison)
    report(comparison, settings)


if __name__ == "__main__":
    main()
