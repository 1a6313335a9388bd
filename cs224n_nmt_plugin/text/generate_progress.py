"""fairseq-generate's or fairseq-interactive's output written to a file, with the sentences
translated so far shown as progress.

    fairseq-generate ... | cs224n-nmt generate-progress OUTPUT --total N [--label translate]

Every line read goes to OUTPUT unchanged (the caller renames it into place when the command
succeeded). The console shows the hypotheses (H-* lines) counted against N, the time spent and
the time left: a bar redrawn in place on a terminal, removed when the step ends; elsewhere
(PROGRESS_DISPLAY=lines, the default when the output is not a terminal) nothing for the first
minute, then a line for every tenth of the sentences, so that a short step prints nothing.
"""
import sys
import time
from pathlib import Path

from cs224n_nmt_plugin.text.progress_display import MODES, ProgressDisplay, bar, duration, percent

QUIET_SECONDS = 60  # a step shorter than this prints no progress line
LINE_FRACTION = 0.1  # after that, a line for every tenth of the sentences


class GenerateProgress:
    """Counts the hypotheses of a generation of ``total`` sentences and shows how far it is. The
    time left is paced from the first hypothesis on: the model's loading comes before it."""

    def __init__(self, display, total, clock=time.monotonic):
        self.display = display
        self.total = total
        self.clock = clock
        self.started = clock()
        self.first_at = None
        self.done = 0
        self.noted = 0.0  # the fraction done at the last progress line

    def read(self, line):
        if line.startswith(b"H-"):
            self.done += 1
            if self.first_at is None:
                self.first_at = self.clock()
            self.display.status(self.status())
            if self.display.mode == "lines" and self._worth_a_line():
                self.display.note(self.status())
                self.noted = self.done / max(self.total, 1)

    def _worth_a_line(self):
        return (self.clock() - self.started >= QUIET_SECONDS
                and self.done / max(self.total, 1) - self.noted >= LINE_FRACTION)

    def status(self):
        now = self.clock()
        text = f"{self.done:,}/{self.total:,} sentences, {duration(now - self.started)} spent"
        if 1 < self.done < self.total:
            pace = (now - self.first_at) / (self.done - 1)
            text += f", ~{duration(pace * (self.total - self.done))} left"
        fraction = self.done / max(self.total, 1)
        return f"{bar(fraction)} {percent(fraction)} {text}"


def add_arguments(parser):
    parser.add_argument("output", type=Path, help="the file to write the generator's output to")
    parser.add_argument("--total", type=int, required=True, help="the number of sentences being translated")
    parser.add_argument("--label", default="translate", help="the step's name at the start of each line")
    parser.add_argument("--display", choices=MODES, help="bar (redrawn in place) or lines (default: "
                                                         "PROGRESS_DISPLAY, else bar on a terminal, lines elsewhere)")


def run(args):
    display = ProgressDisplay(f"[{args.label}]", mode=args.display)
    progress = GenerateProgress(display, args.total)
    with open(args.output, "wb") as output:  # bytes as they come: the output is copied, not decoded
        for line in sys.stdin.buffer:
            output.write(line)
            progress.read(line)
    display.close()
