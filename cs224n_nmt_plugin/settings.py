"""The pipeline's settings, in one place: the Python tools import them and the shell scripts ask
for them, one value a line::

    python -m cs224n_nmt_plugin.settings decoding [--search fairseq]   # fairseq-generate's options
    python -m cs224n_nmt_plugin.settings decoding-summary [--search fairseq]
    python -m cs224n_nmt_plugin.settings preprocess                    # fairseq-preprocess's options
    python -m cs224n_nmt_plugin.settings training cpu [--cpu-updates N] # a recipe's fairseq-train options
    python -m cs224n_nmt_plugin.settings layout NAME                   # corpus NAME's four folders

Nothing here imports fairseq or torch.
"""
import argparse
import os
import re
import sys
from pathlib import Path

SOURCE_LANG, TARGET_LANG = "es", "en"
# The four words fairseq's Dictionary puts before a dict.*.txt's words, in its order.
FAIRSEQ_SPECIALS = ("<s>", "<pad>", "</s>", "<unk>")

# ----- the vocabulary: the a4 rule (A4_SPEC.md) ------------------------------------------------
# At most 50,000 words per side, each seen at least twice in the training text, built separately
# for each language, and no padding of the dictionaries to a multiple of 8.
VOCABULARY_WORDS = 50_000
VOCABULARY_MIN_COUNT = 2


def preprocess_options():
    """fairseq-preprocess's options for the a4 vocabulary rule (its word counts include the specials)."""
    words = str(VOCABULARY_WORDS + len(FAIRSEQ_SPECIALS))
    count = str(VOCABULARY_MIN_COUNT)  # fairseq drops a word seen fewer times than its threshold
    return ["--nwordssrc", words, "--nwordstgt", words, "--thresholdsrc", count, "--thresholdtgt", count,
            "--padding-factor", "1"]


# ----- training: the homework's run.py as fairseq-train options ----------------------------------
RECIPES = ("gpu", "cpu")
CPU_UPDATES = 16_000  # the CPU recipe's length: a fixed number of updates gives the same model however busy the CPU


def training_options(recipe, cpu_updates=CPU_UPDATES):
    """fairseq-train's options for a recipe, ``gpu`` or ``cpu``. Both train as a4's run.py does:
    torch.optim.Adam 1e-3 (a4_adam), gradient-norm clip 5, 32 sentences a batch, the loss summed
    NLL / sentences (a4_cross_entropy: cross_entropy's loss at the target words only), seed 0, the
    learning rate halved when the dev loss stops improving and training stopped after 5 halvings
    or 30 epochs; and each epoch's batches come from seed + epoch, so that a resumed process forms
    the batches an uninterrupted one would (fairseq's default keeps the batches of the epoch the
    process started in). The GPU recipe is the homework's size with mixed precision; the CPU
    recipe the half size, stopped after ``cpu_updates``."""
    if recipe not in RECIPES:
        raise ValueError(f"RECIPE must be gpu, cpu or auto, not '{recipe}'")
    common = ["--task", "translation", "--source-lang", SOURCE_LANG, "--target-lang", TARGET_LANG,
              "--optimizer", "a4_adam", "--lr", "1e-3", "--clip-norm", "5", "--batch-size", "32",
              "--criterion", "a4_cross_entropy", "--sentence-avg", "--seed", "0",
              "--lr-scheduler", "reduce_lr_on_plateau", "--lr-shrink", "0.5", "--lr-patience", "1",
              "--stop-min-lr", "3.2e-05", "--max-epoch", "30", "--update-epoch-batch-itr", "True"]
    if recipe == "gpu":
        return common + ["--arch", "cs224n_lstm", "--validate-interval-updates", "2000", "--save-interval-updates",
                         "2000", "--amp"]
    # --num-workers 0: batches are loaded in the training process, since a loader process competes
    # with torch's threads for a small CPU's cores. Float32: --cpu-autocast bf16 did not train this
    # size faster in a whole run (docs/benchmarks.md).
    return common + ["--arch", "cs224n_lstm_small", "--cpu", "--num-workers", "0", "--validate-interval-updates",
                     "1000", "--save-interval-updates", "1000", "--max-update", str(cpu_updates)]


# ----- decoding: the homework's test decoding (A4_SPEC.md) -------------------------------------
# Its own beam search, beam 5, at most 70 steps (max_decoding_time_step, the </s> step included),
# hypotheses ranked by summed log-probability.
TASK = "cs224n_translation"  # the plugin's task: --search chooses the generator (tasks/cs224n_translation.py)
SEARCHES = ("homework", "fairseq")
BEAM = 5
MAX_STEPS = 70


def decoding_arguments(search="homework"):
    """fairseq's generation arguments (by their names in its GenerationConfig and the hub's
    generate) for the homework's decoding with ``search``: the homework's own beam search, or
    fairseq's SequenceGenerator set as close to it as its options go (--min-len 0 lets it end at
    once with </s>, as the homework may)."""
    if search not in SEARCHES:
        raise ValueError(f"search must be one of {', '.join(SEARCHES)}, not {search!r}")
    arguments = {"beam": BEAM, "max_len_a": 0, "max_len_b": MAX_STEPS}
    if search == "fairseq":
        arguments.update(min_len=0, unnormalized=True)
    return arguments


def decoding_options(search="homework"):
    """The same as fairseq-generate/-interactive options, with the plugin's task."""
    options = ["--task", TASK, "--search", search]
    for name, value in decoding_arguments(search).items():
        flag = "--" + name.replace("_", "-")
        options += [flag] if value is True else [flag, str(value)]
    return options


def decoding_summary(search="homework"):
    """What ``decoding_options(search)`` decodes with, in words, for logs and reports."""
    if search == "fairseq":
        return (f"fairseq's beam search, beam {BEAM}, at most {MAX_STEPS} words then </s>, "
                f"</s> allowed first, summed log-probability")
    return f"the homework's beam search, beam {BEAM}, at most {MAX_STEPS} steps, summed log-probability"


# ----- where the pipeline keeps a corpus's files ------------------------------------------------
CORPUS_NAME = re.compile(r"^[A-Za-z0-9._-]+$")


def project_root():
    """The checkout the package is in (an editable install or the source tree), else the current
    folder (an installed copy run from a checkout, as in Colab)."""
    checkout = Path(__file__).resolve().parents[1]
    return checkout if (checkout / "scripts" / "lib.sh").is_file() else Path.cwd()


def data_bin_dir(name):
    """data-bin/NAME: the dictionaries and binaries of corpus NAME (DATA_BIN_ROOT moves data-bin)."""
    return Path(os.environ.get("DATA_BIN_ROOT") or project_root() / "data-bin") / _checked(name)


def text_dir(name):
    """data-bin/NAME/text: the prepared text, prepare.json and the references."""
    return data_bin_dir(name) / "text"


def run_dir(name):
    """outputs/NAME: the training log, translations and scores of corpus NAME (OUTPUTS_ROOT moves outputs)."""
    return Path(os.environ.get("OUTPUTS_ROOT") or project_root() / "outputs") / _checked(name)


def checkpoint_dir(name):
    return run_dir(name) / "checkpoints"


def _checked(name):
    if not CORPUS_NAME.match(name):
        raise ValueError(f"corpus name '{name}' may only hold letters, digits, '.', '_' and '-'")
    return name


# ----- the shell scripts' questions ----------------------------------------------------------------
SETTINGS = {
    "decoding": lambda args: decoding_options(args.search),
    "decoding-summary": lambda args: [decoding_summary(args.search)],
    "preprocess": lambda args: preprocess_options(),
    "training": lambda args: training_options(args.argument, args.cpu_updates),
    "layout": lambda args: [str(folder(args.argument)) for folder in (data_bin_dir, text_dir, run_dir, checkpoint_dir)],
}
ARGUMENTS = {"layout": "a corpus NAME", "training": "a RECIPE"}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m cs224n_nmt_plugin.settings", description=__doc__.split("\n\n")[0])
    parser.add_argument("name", choices=sorted(SETTINGS))
    parser.add_argument("argument", nargs="?", help="the corpus NAME of layout, the RECIPE of training")
    parser.add_argument("--search", choices=SEARCHES, default="homework", help="for decoding (default: homework)")
    parser.add_argument("--cpu-updates", type=int, default=CPU_UPDATES, help=f"for training (default {CPU_UPDATES})")
    args = parser.parse_args(argv)
    if (args.name in ARGUMENTS) != (args.argument is not None):
        parser.error(f"{args.name} takes {ARGUMENTS[args.name]}" if args.name in ARGUMENTS
                     else f"{args.name} takes no argument")
    try:
        print("\n".join(SETTINGS[args.name](args)))
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
