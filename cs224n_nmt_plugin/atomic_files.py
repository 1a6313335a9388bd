"""Writing outputs so that a failure never leaves a half-written file in place of a good one:
everything goes to temporary names beside the targets first, and is renamed into place
only when all of it is written; on failure the temporary files are removed."""
import os
from pathlib import Path


def write_files(writers):
    """Call ``writers[path](temporary_path)`` for every target path, then rename each
    temporary file onto its path (in the given order)."""
    temporaries = {Path(path): Path(path).with_name(f".{Path(path).name}.{os.getpid()}.tmp") for path in writers}
    try:
        for path, write in zip(temporaries, writers.values()):
            path.parent.mkdir(parents=True, exist_ok=True)
            write(temporaries[path])
        for path, temporary in temporaries.items():
            os.replace(temporary, path)
    finally:
        for temporary in temporaries.values():
            temporary.unlink(missing_ok=True)


def text_writer(text):
    """A writer for write_files: UTF-8 text with \\n line ends."""
    def write(path):
        with open(path, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
    return write


def write_lines(path, lines):
    """The lines, each ended by \\n, as one atomically written UTF-8 file."""
    write_files({path: text_writer("".join(f"{line}\n" for line in lines))})
