"""Translate raw Spanish into English with a trained model, one English line per Spanish line.

    cs224n-nmt translate NAME [SENTENCE ...]
    cs224n-nmt translate --checkpoint CHECKPOINT.pt [--data-bin DIR] [SENTENCE ...]

NAME is a corpus as the pipeline scripts name it: its run is outputs/NAME/checkpoints/
checkpoint_best.pt (--checkpoint-file another of them) with data-bin/NAME, under OUTPUTS_ROOT and
DATA_BIN_ROOT when those are set. --checkpoint takes any other cs224n_nmt checkpoint; its data-bin
is --data-bin, else the checkpoint's folder when it holds the dictionaries (an imported homework
model), else the pipeline's data-bin of outputs/NAME/checkpoints.

The sentences come from the command line, else from standard input: typed at a terminal, each
line is translated as soon as it is entered (Ctrl-D ends); piped or redirected, the lines are
translated in batches of --batch-lines, and printed in input order. Decoding is
scripts/translate_file.sh's (translator.py), with the corpus's own pre- and post-processing;
the output is a4 text.

    echo "¿Dónde está la biblioteca?" | cs224n-nmt translate tatoeba
    cs224n-nmt translate tatoeba "Tengo hambre." "Hace frío."
    cs224n-nmt translate tatoeba < sentences.es > sentences.en

Without a trained run, or with no line to translate: one line on stderr, exit status 1.
"""
import itertools
import sys
from pathlib import Path

from cs224n_nmt_plugin import settings
from cs224n_nmt_plugin.cli import positive_int
from cs224n_nmt_plugin.errors import InputError, UsageError
from cs224n_nmt_plugin.text.progress_display import ProgressDisplay

PROMPT = "Spanish (Ctrl-D ends)> "


def add_arguments(parser):
    parser.usage = "%(prog)s NAME [SENTENCE ...] | --checkpoint CHECKPOINT [--data-bin DIR] [SENTENCE ...]"
    parser.add_argument("arguments", nargs="*", metavar="ARGUMENT",
                        help="the corpus whose run translates (not with --checkpoint), then sentences to translate "
                             "(default: standard input)")
    parser.add_argument("--checkpoint", type=Path, help="translate with this checkpoint instead of a run's")
    parser.add_argument("--data-bin", type=Path, help="the data-bin the checkpoint was trained on (default: found)")
    parser.add_argument("--checkpoint-file", default="checkpoint_best.pt",
                        help="which checkpoint of the run NAME (default: checkpoint_best.pt)")
    parser.add_argument("--batch-lines", type=positive_int, default=64,
                        help="lines translated together from a pipe or file (default 64)")
    parser.add_argument("--cpu", action="store_true", help="translate on the CPU even where there is a GPU")


def model_files(args):
    """(checkpoint, data_bin, the sentences given on the command line)."""
    if args.checkpoint is not None:
        if args.checkpoint.is_dir():
            raise InputError(args.checkpoint, "is a folder: pass the checkpoint file")
        if not args.checkpoint.is_file():
            raise InputError(args.checkpoint, "no such checkpoint")
        from cs224n_nmt_plugin.serve.app import find_data_bin

        return args.checkpoint, args.data_bin or find_data_bin(args.checkpoint.parent), args.arguments
    if not args.arguments:
        raise UsageError("give the corpus NAME of a trained run, or --checkpoint")
    name, *sentences = args.arguments
    try:
        checkpoint = settings.checkpoint_dir(name) / args.checkpoint_file
        data_bin = args.data_bin or settings.data_bin_dir(name)
    except ValueError as error:
        raise UsageError(str(error)) from None
    if not checkpoint.is_file():
        raise InputError(checkpoint, f"no trained run of corpus {name!r} (train it with bash scripts/run.sh or "
                                     f"scripts/train.sh {name}, or pass --checkpoint)")
    return checkpoint, data_bin, sentences


def batches(args, sentences):
    """Lists of lines to translate together: the sentences given, else standard input's lines,
    one at a time from a terminal (each is answered as it is typed), else --batch-lines at a time."""
    if sentences:
        yield sentences
    elif sys.stdin.isatty():
        while True:
            sys.stderr.write(PROMPT)  # on stderr: standard output holds the translations only
            sys.stderr.flush()
            line = sys.stdin.readline()
            if not line:
                sys.stderr.write("\n")
                return
            yield [line.rstrip("\r\n")]
    else:
        lines = (line.rstrip("\r\n") for line in sys.stdin)
        while batch := list(itertools.islice(lines, args.batch_lines)):
            yield batch


def run(args):
    checkpoint, data_bin, sentences = model_files(args)
    pending = batches(args, sentences)
    if not sentences and not sys.stdin.isatty():  # an empty pipe or file is refused before the model loads
        first = next(pending, None)
        if first is None:
            raise InputError("<stdin>", "no lines to translate")
        pending = itertools.chain([first], pending)
    import torch

    from cs224n_nmt_plugin import preflight
    from cs224n_nmt_plugin.translator import Translator

    preflight.check(checkpoint, data_bin)
    device = "cuda" if torch.cuda.is_available() and not args.cpu else "cpu"
    translator = Translator(checkpoint, data_bin, device=device)
    # lines from a pipe or file: a count on the terminal while the translations go elsewhere
    counted = not sentences and not sys.stdin.isatty() and not sys.stdout.isatty()
    progress = ProgressDisplay("[translate]", stream=sys.stderr, mode=None if counted else "lines")
    translated = 0
    for batch in pending:
        for translation in translator.translate(batch):
            print(translation.hypotheses[0].text, flush=True)
        translated += len(batch)
        progress.status(f"translated {translated:,} lines")
    progress.close()
