"""One status line a person can read while a long step runs: on a terminal (or a notebook cell,
PROGRESS_DISPLAY=bar) a bar redrawn in place; elsewhere (a log file, CI) only the few lines the
step chooses to keep, so that a captured run stays short.

PROGRESS_DISPLAY=bar|lines chooses the mode where the default guess is wrong.
"""
import os
import shutil
import sys
import time

MODES = ("bar", "lines")
BAR_WIDTH = 20


def choose_mode(stream, requested=None):
    """``requested`` (bar, lines) or PROGRESS_DISPLAY, else bar on a terminal and lines elsewhere."""
    mode = requested or os.environ.get("PROGRESS_DISPLAY") or "auto"
    if mode == "auto":
        return "bar" if stream.isatty() else "lines"
    if mode not in MODES:
        raise ValueError(f"PROGRESS_DISPLAY must be bar, lines or auto, not {mode!r}")
    return mode


def duration(seconds):
    """1:02:03 or 4:05 (minutes:seconds under an hour)."""
    seconds = max(0, int(round(seconds)))
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"


def bar(fraction, width=BAR_WIDTH):
    """[#######.................] for a fraction between 0 and 1."""
    filled = int(round(min(max(fraction, 0.0), 1.0) * width))
    return "[" + "#" * filled + "." * (width - filled) + "]"


def percent(fraction):
    """' 42%', rounded down: 100% only when done."""
    return f"{int(min(max(fraction, 0.0), 1.0) * 100):3d}%"


class ProgressDisplay:
    """``status(text)`` replaces the live status line (bar mode only, redrawn at most every
    ``REDRAW_SECONDS``); ``note(text)`` prints a line that stays, in both modes; ``close()``
    removes the live line. Every line starts with ``prefix``. What deserves a note in lines mode
    is for the caller to say."""

    REDRAW_SECONDS = 0.2  # a notebook keeps every redraw in the cell's output: not one per sentence

    def __init__(self, prefix, stream=None, mode=None, clock=time.monotonic):
        self.prefix = prefix
        self.stream = stream or sys.stdout
        self.mode = choose_mode(self.stream, mode)
        self.clock = clock
        self.latest = ""  # the latest status line
        self.shown = ""  # the live line on screen (bar mode)
        self.shown_at = None

    def status(self, text):
        self.latest = f"{self.prefix} {text}"
        now = self.clock()
        if self.mode == "bar" and (self.shown_at is None or now - self.shown_at >= self.REDRAW_SECONDS):
            self._redraw(self.latest)
            self.shown_at = now

    def note(self, text):
        live = bool(self.shown)
        self._erase()
        self._write(f"{self.prefix} {text}\n")
        if live:
            self._redraw(self.latest)

    def close(self):
        self._erase()

    def _redraw(self, line):
        line = line[: self._columns()]
        padding = " " * max(0, len(self.shown) - len(line))  # covers the end of a longer previous line
        self._write("\r" + line + padding)
        self.shown = line

    def _erase(self):
        if self.shown:
            self._write("\r" + " " * len(self.shown) + "\r")
            self.shown = ""

    def _write(self, text):
        self.stream.write(text)
        self.stream.flush()

    @staticmethod
    def _columns():
        """The terminal's width less one, so that a redrawn line never wraps (80 without a terminal)."""
        return shutil.get_terminal_size((80, 24)).columns - 1
