"""fairseq-train's output as progress a person can read; the whole output still goes to the log.

    fairseq-train ... 2>&1 | cs224n-nmt train-progress TRAIN_LOG [--display bar|lines]

Every line read is appended to TRAIN_LOG, unchanged: nothing is left out there. The console
shows instead:

* a progress bar over the whole run: updates done of those planned (--max-update), or epochs
  of --max-epoch where the run stops on the learning rate (then also how many times the
  learning rate was shrunk of the times that stop it), the latest training loss and dev
  perplexity, the time spent and the time left (at the current pace, measured from the log's
  timestamps, validations included);
* a line with the dev perplexity (and the best so far) at the first validation and at each one
  that finds the run 5% further along than the last line did, and a line saying how the run ended;
* fairseq's warnings and errors, and Python's warnings.

It leaves out what fairseq logs at the INFO level for whoever reads the log: the configuration
(one line of thousands of characters), the model's printout, the data loading, "Please install
tensorboardX", "detected shared parameter: ...bias <- ...bias" (fairseq's message for layers
without a bias, which share its empty placeholder) and the JSON records themselves.

On a terminal the bar is redrawn in place; elsewhere (PROGRESS_DISPLAY=lines, the default when
the output is not a terminal) only the lines are printed. Interrupting (Ctrl-C) stops
fairseq-train, and this command reads its last lines into the log before it ends.
"""
import json
import re
import signal
import sys
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cs224n_nmt_plugin.text.progress_display import MODES, ProgressDisplay, bar, duration, percent

RECORD = re.compile(r"^(?P<time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) \| (?P<level>[A-Z]+) \| (?P<source>[\w.]+) \| "
                    r"(?P<message>.*)$")
PYTHON_WARNING = re.compile(r"^\S.*:\d+: \w*Warning: ")
SHOWN_LEVELS = ("WARNING", "ERROR", "CRITICAL")
NOTE_FRACTION = 0.05  # a validation's line once the run is this much further along than the last one's


def _setting(config_line, name, default=None):
    """A number from fairseq's configuration line, a dict's repr: ``'max_update': 16000``,
    ``'lr': [0.001]``; the first occurrence (the optimization section's)."""
    found = re.search(rf"'{name}': \[?(-?[\d.]+(?:e-?\d+)?)", config_line)
    return float(found.group(1)) if found else default


@dataclass
class Plan:
    """What stops the run, from fairseq-train's configuration line (0 or less: not set)."""
    max_update: int = 0
    max_epoch: int = 0
    stop_time_seconds: float = 0.0
    lr: float = 0.0
    stop_min_lr: float = -1.0
    lr_shrink: float = 0.0
    validate_interval_updates: int = 0

    @classmethod
    def from_config(cls, line):
        return cls(
            max_update=int(_setting(line, "max_update", 0)), max_epoch=int(_setting(line, "max_epoch", 0)),
            stop_time_seconds=_setting(line, "stop_time_hours", 0.0) * 3600, lr=_setting(line, "lr", 0.0),
            stop_min_lr=_setting(line, "stop_min_lr", -1.0), lr_shrink=_setting(line, "lr_shrink", 0.0),
            validate_interval_updates=int(_setting(line, "validate_interval_updates", 0)),
        )

    def shrinks_to_stop(self):
        """How many shrinks of the learning rate take it to --stop-min-lr (0: it does not stop the run)."""
        if self.stop_min_lr <= 0 or not 0 < self.lr_shrink < 1 or self.lr <= 0:
            return 0
        count, lr = 0, self.lr
        while lr > self.stop_min_lr:
            lr *= self.lr_shrink
            count += 1
        return count

    def describe(self):
        if self.max_update > 0:
            goal = f"{self.max_update:,} updates"
        elif self.max_epoch > 0:
            goal = f"at most {self.max_epoch} epochs"
        else:
            goal = "no set length"
        stops = []
        if self.shrinks_to_stop():
            stops.append(f"stops early once the learning rate has been shrunk {self.shrinks_to_stop()} times")
        if self.stop_time_seconds > 0:
            stops.append(f"at most {duration(self.stop_time_seconds)} of training")
        if self.validate_interval_updates > 0:
            stops.append(f"dev perplexity every {self.validate_interval_updates:,} updates")
        return ", ".join([goal] + stops)


class TrainProgress:
    """The state of a run, fed fairseq-train's output one line at a time."""

    def __init__(self, display):
        self.display = display
        self.plan = None
        self.start = None  # (time, fraction done) when this process began training
        self.now = None
        self.updates = 0
        self.epochs_done = 0.0  # fairseq's "update" field: epoch - 1 + the fraction of it done
        self.loss = None
        self.lr = None
        self.dev_ppl = None
        self.best_dev_ppl = None
        self.stop_reason = None
        self.finished = False
        self.shown_record = False  # the last record was shown: its continuation lines are too
        self.noted = None  # the fraction done at the last validation line

    def read(self, line):
        line = line.rstrip("\r\n")
        record = RECORD.match(line)
        if record is None:
            if PYTHON_WARNING.match(line):
                self.shown_record = True  # with the source line that follows it
            if self.shown_record:
                self.display.note(line)
            return
        self.now = datetime.strptime(record["time"], "%Y-%m-%d %H:%M:%S")
        self.shown_record = record["level"] in SHOWN_LEVELS
        if self.shown_record:
            self.display.note(line)
        self._follow(record["source"], record["message"])

    def _follow(self, source, message):
        if source == "fairseq_cli.train" and message.startswith("{") and self.plan is None:
            self.plan = Plan.from_config(message)
        elif message.startswith("Loaded checkpoint"):
            resumed = re.search(r"\(epoch (\d+) @ (\d+) updates\)", message)
            if resumed:
                self.updates = int(resumed.group(2))
                self.epochs_done = int(resumed.group(1)) - 1
                self.display.note(f"resumed at {self.updates:,} updates (epoch {resumed.group(1)})")
        elif message.startswith("Start iterating over samples") and self.start is None:
            self.start = (self.now, self.fraction() or 0.0)
            if self.plan:
                self.display.note(f"plan: {self.plan.describe()}")
        elif source == "train_inner":
            self._train_record(json.loads(message))
        elif source == "valid":
            self._valid_record(json.loads(message))
        elif "topping training" in message or message.startswith("early stop"):
            self.stop_reason = re.sub(r"^\w+ training (due to|because) ", "", message)
        elif message.startswith("done training"):
            self.finished = True

    def _train_record(self, record):
        self.updates = int(record["num_updates"])
        self.epochs_done = float(record.get("update", self.epochs_done))
        self.loss = float(record["loss"])
        self.lr = float(record["lr"]) if "lr" in record else self.lr
        self.display.status(self.status())

    def _valid_record(self, record):
        self.updates = int(record.get("valid_num_updates", self.updates))
        self.dev_ppl = float(record["valid_ppl"])
        self.best_dev_ppl = min(self.dev_ppl, self.best_dev_ppl or self.dev_ppl)
        self.display.status(self.status())
        fraction = self.fraction() or 0.0
        if self.noted is not None and fraction - self.noted < NOTE_FRACTION:
            return
        self.noted = fraction
        self.display.note(f"{self._position()}: dev ppl {self.dev_ppl:.2f} (best {self.best_dev_ppl:.2f})"
                          + (f", train loss {self.loss:.2f}" if self.loss is not None else "") + self._times())

    def fraction(self):
        """How far along the run is, 0 to 1 (None where nothing bounds it)."""
        plan = self.plan
        if plan is None:
            return None
        fractions = []
        if plan.max_update > 0:
            fractions.append(self.updates / plan.max_update)
        if plan.max_epoch > 0:
            fractions.append(self.epochs_done / plan.max_epoch)
        if plan.stop_time_seconds > 0 and self.start:
            fractions.append(self._elapsed() / plan.stop_time_seconds)
        return min(max(fractions), 1.0) if fractions else None

    def seconds_left(self):
        """At the pace since this process began training; None before the pace is known."""
        fraction = self.fraction()
        if fraction is None or not self.start or fraction <= self.start[1] or self._elapsed() <= 0:
            return None
        return (1 - fraction) * self._elapsed() / (fraction - self.start[1])

    def _elapsed(self):
        return (self.now - self.start[0]).total_seconds() if self.start and self.now else 0.0

    def _by_epochs(self):
        return self.plan is not None and self.plan.max_update <= 0 and self.plan.max_epoch > 0

    def _position(self):
        if self._by_epochs():
            return f"epoch {self.epochs_done:.2f} of {self.plan.max_epoch}, {self.updates:,} updates"
        if self.plan is not None and self.plan.max_update > 0:
            return f"{self.updates:,}/{self.plan.max_update:,} updates"
        return f"{self.updates:,} updates"

    def _times(self):
        return f", {duration(self._elapsed())} spent" + (f", {self._left()}" if self._left() else "")

    def _left(self):
        left = self.seconds_left()
        if left is None:
            return ""
        # where the learning rate stops the run, the epochs bound the time only from above
        return f"{'at most ' if self._by_epochs() else ''}~{duration(left)} left"

    def _learning_rate(self):
        """lr 0.00025 (shrunk 2 of 5), where shrinking the learning rate stops the run: always when
        the epochs count, else once it has been shrunk."""
        shrinks = self.plan.shrinks_to_stop() if self.plan else 0
        if not shrinks or not self.lr:
            return ""
        done, lr = 0, self.plan.lr
        while lr > self.lr * 1.0001:  # the logged rate is rounded
            lr *= self.plan.lr_shrink
            done += 1
        return f"lr {self.lr:g} (shrunk {done} of {shrinks})" if done or self._by_epochs() else ""

    def status(self):
        """The live line, the most telling first (a narrow terminal cuts its end)."""
        fraction = self.fraction()
        head = f"{bar(fraction)} {percent(fraction)}" if fraction is not None else ""
        parts = [" ".join(part for part in (head, self._left()) if part), self._position()]
        if self.loss is not None:
            parts.append(f"loss {self.loss:.2f}")
        if self.dev_ppl is not None:
            parts.append(f"dev ppl {self.dev_ppl:.2f}")
        parts.append(self._learning_rate())
        return " | ".join(part for part in parts if part)

    def close(self):
        self.display.close()
        if self.finished:
            best = f"; best dev ppl {self.best_dev_ppl:.2f}" if self.best_dev_ppl is not None else ""
            reason = f" ({self.stop_reason})" if self.stop_reason else ""
            self.display.note(f"finished: {self._position()} in {duration(self._elapsed())}{best}{reason}")
        else:
            self.display.note(f"fairseq-train stopped at {self.updates:,} updates")


def add_arguments(parser):
    parser.add_argument("log", type=Path, help="the file that keeps fairseq-train's whole output (appended to)")
    parser.add_argument("--display", choices=MODES, help="bar (redrawn in place) or lines (default: "
                                                         "PROGRESS_DISPLAY, else bar on a terminal, lines elsewhere)")


def run(args):
    # Ctrl-C reaches fairseq-train too: keep reading so that its last lines reach the log.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    progress = TrainProgress(ProgressDisplay("[train]", mode=args.display))
    args.log.parent.mkdir(parents=True, exist_ok=True)
    with open(args.log, "ab") as log:  # bytes as they come: the log is a copy, a stray byte included
        for line in sys.stdin.buffer:
            log.write(line)
            log.flush()
            progress.read(line.decode("utf-8", errors="replace"))
    progress.close()
