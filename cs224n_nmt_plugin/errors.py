"""The two kinds of error the command line reports in one line (cli.py turns them into a message
on stderr and an exit status), kept apart from every other module so that all can raise them."""


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
