"""The errors reported in one line: the command line's two kinds (cli.py turns them into a message
on stderr and an exit status) and the generation option a search does not define, kept apart from
every other module so that all can raise them."""
import sys


class InputError(Exception):
    """A problem with an input or output file: one line that names the file, exit status 1."""

    def __init__(self, path, problem):
        super().__init__(f"{path}: {problem}")
        self.path = path
        self.problem = problem


class UsageError(Exception):
    """Arguments that do not go together: reported like argparse's own usage errors (exit status 2)."""


def brief(error, limit=160):
    """The gist of a library's exception for a one-line message: its type and the first sentence
    of the line that names what was refused ("Unsupported global ..." of torch's weights-only
    loader), or of its first line, at most ``limit`` characters."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    detail = next((line for line in lines if "unsupported" in line.lower()), lines[0] if lines else "")
    detail = detail.split(". ")[0]
    if len(detail) > limit:
        detail = detail[: limit - 3] + "..."
    return f"{type(error).__name__}: {detail}" if detail else type(error).__name__


class UnsupportedOption(ValueError):
    """A fairseq option that the chosen generator does not define. fairseq's commands report it in
    one line on stderr (report_unsupported_options_in_one_line); in Python it is a ValueError."""


def report_unsupported_options_in_one_line():
    """Make an uncaught UnsupportedOption end a fairseq command with one line on stderr and exit
    status 1 instead of a traceback; every other exception is reported as before."""
    previous = sys.excepthook

    def report(kind, error, traceback):
        if isinstance(error, UnsupportedOption):
            print(f"error: {error}", file=sys.stderr)
        else:
            previous(kind, error, traceback)

    sys.excepthook = report
