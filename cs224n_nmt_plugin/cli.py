"""The plugin's command line: ``cs224n-nmt COMMAND [options]`` (or ``python -m cs224n_nmt_plugin
COMMAND``). ``cs224n-nmt COMMAND --help`` documents each command.

Only the chosen command's module is imported, so the text tools start without fairseq. This is
the one place that turns an input problem into one line on stderr and exit status 1
(errors.InputError, or an OSError of a file), and arguments that do not go together into a
usage error (exit status 2).
"""
import argparse
import importlib
import logging
import sys
from typing import NamedTuple

from cs224n_nmt_plugin.errors import InputError, UsageError
from cs224n_nmt_plugin.notices import silence_third_party_notices

PROG = "cs224n-nmt"


class Command(NamedTuple):
    module: str  # under cs224n_nmt_plugin
    summary: str
    part: str = ""  # in a module of several commands: its functions are add_PART_arguments and run_PART

    def load(self):
        """(add_arguments, run, the module's docstring) of this command."""
        module = importlib.import_module(f"cs224n_nmt_plugin.{self.module}")
        suffix = f"_{self.part}" if self.part else ""
        return getattr(module, f"add{suffix}_arguments"), getattr(module, f"run{suffix}"), module.__doc__


COMMANDS = {
    "fetch-tatoeba": Command("text.tatoeba", "download the Tatoeba spa-eng corpus the pipeline trains on (checked)"),
    "prepare": Command("text.prepare", "check a parallel corpus and prepare it for fairseq-preprocess"),
    "encode": Command("text.translation_io", "raw Spanish -> the lines fairseq-interactive reads", "encode"),
    "collect": Command("text.translation_io", "fairseq-generate/-interactive output -> a4 text in input order",
                       "collect"),
    "bleu": Command("text.bleu", "the handout's sentence BLEU of every line, or the a4 corpus BLEU"),
    "score": Command("text.scores", "a4 BLEU and sacreBLEU of a translation file, kept in a scores.json"),
    "report": Command("report_command", "an HTML error-analysis report of a system's translations"),
    "curve": Command("text.learning_curve", "train and dev perplexity curves from a fairseq-train log"),
    "train-progress": Command("text.train_progress", "fairseq-train's output as progress; the whole log to a file"),
    "generate-progress": Command("text.generate_progress", "fairseq-generate's output to a file, with progress"),
    "preflight": Command("preflight", "check a checkpoint against a data-bin, or make checkpoint_last.pt resumable"),
    "translate": Command("translate_command", "translate Spanish lines (stdin or arguments) with a trained run"),
    "serve": Command("serve.app", "a local translation server and page over a checkpoint (API: POST /translate)"),
    "import-model-bin": Command("homework.model_bin", "a CS224n starter model.bin -> a fairseq checkpoint directory",
                                "import"),
    "export-model-bin": Command("homework.model_bin", "a cs224n_nmt checkpoint -> a CS224n starter model.bin",
                                "export"),
}


def positive_int(text):
    """An argparse type: a whole number of at least 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def overview():
    width = max(map(len, COMMANDS))
    lines = [f"usage: {PROG} COMMAND [options]   ({PROG} COMMAND --help for one command)", "", "commands:"]
    lines += [f"  {name:<{width}}  {command.summary}" for name, command in COMMANDS.items()]
    return "\n".join(lines)


def command_parser(name, command):
    """The command's argument parser, and its run function."""
    add_arguments, run, doc = command.load()
    parser = argparse.ArgumentParser(prog=f"{PROG} {name}", description=command.summary, epilog=doc,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return parser, run


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if not argv or argv[0] in ("-h", "--help"):
        print(overview(), file=sys.stdout if argv else sys.stderr)
        return 0 if argv else 2
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"{PROG}: unknown command {name!r}\n\n{overview()}", file=sys.stderr)
        return 2
    # Before fairseq may be imported: it would configure the root logger for INFO at import time.
    # The commands show warnings and their own output only.
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s | %(name)s | %(message)s")
    silence_third_party_notices()
    parser, run = command_parser(name, COMMANDS[name])
    args = parser.parse_args(rest)
    try:
        return run(args) or 0
    except UsageError as error:
        parser.error(str(error))
    except InputError as error:
        print(f"error: {error}", file=sys.stderr)
    except OSError as error:  # a file the command could not read or write
        print(f"error: {error.filename or name}: {error.strerror or error}", file=sys.stderr)
    return 1
