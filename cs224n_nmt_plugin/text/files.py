"""Reading text files the one way every tool here reads them, and writing outputs so that a
failure never leaves a half-written file in place of a good one.

Reading: UTF-8, lines end at \\n, \\r or \\r\\n (as Python's text files and fairseq-interactive
split them; other Unicode separators such as U+2028 stay inside their line), a last line needs
no line end. A missing file or a byte that is not UTF-8 is an InputError naming the file.

Writing: one helper, write_files, through which every output is written: everything goes to
temporary names beside the targets first and is renamed into place only when all of it is
written; on failure the temporary files are removed, and a file that cannot be written is an
InputError naming the target.
"""
import contextlib
import io
import os
import shutil
from pathlib import Path

from cs224n_nmt_plugin.errors import InputError


def read_lines(path):
    """The lines of a UTF-8 text file, without their line ends."""
    path = Path(path)
    if not path.is_file():
        raise InputError(path, "missing or not a file")
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = len(data[: error.start].splitlines()) + (error.start == 0 or data[error.start - 1] in b"\r\n")
        raise InputError(path, f"line {line} is not UTF-8 "
                               f"(byte 0x{data[error.start]:02x} at offset {error.start})") from None
    lines = io.StringIO(text, newline=None).read().split("\n")  # \r\n and \r read as \n
    if lines[-1] == "":
        lines.pop()
    return lines


def write_files(writers):
    """Call ``writers[path](temporary_path)`` for every target path, then rename each
    temporary file onto its path (in the given order)."""
    temporaries = {Path(path): Path(path).with_name(f".{Path(path).name}.{os.getpid()}.tmp") for path in writers}
    path = None
    try:
        for path, write in zip(temporaries, writers.values()):
            path.parent.mkdir(parents=True, exist_ok=True)
            write(temporaries[path])
        for path, temporary in temporaries.items():
            os.replace(temporary, path)
    except OSError as error:
        raise InputError(path, f"cannot write ({error.strerror or error})") from None
    finally:
        for temporary in temporaries.values():
            with contextlib.suppress(OSError):  # never written, or its folder is not one
                temporary.unlink()


def text_writer(text):
    """A writer for write_files: UTF-8 text with \\n line ends."""
    def write(path):
        with open(path, "w", encoding="utf-8", newline="\n") as stream:
            stream.write(text)
    return write


def stream_writer(write):
    """A writer for write_files: ``write(handle)`` into the file opened for binary writing."""
    def write_stream(path):
        with open(path, "wb") as handle:
            write(handle)
    return write_stream


def copy_writer(source):
    """A writer for write_files: a copy of the file ``source``."""
    return lambda path: shutil.copyfile(source, path)


def write_lines(path, lines):
    """The lines, each ended by \\n, as one atomically written UTF-8 file."""
    write_files({path: text_writer("".join(f"{line}\n" for line in lines))})
