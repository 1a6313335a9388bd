"""Learning curves (train and dev perplexity) from a ``fairseq-train --log-format json`` log.

Command line::

    cs224n-nmt curve TRAIN_LOG OUT_PNG [--json OUT_JSON]

TRAIN_LOG is the captured stdout/stderr (or ``--log-file``) of a run with ``--log-format json``.
Two kinds of line give the points; their values are JSON strings, e.g. ``"ppl": "163.86"``:

* ``... | INFO | train_inner | {...}`` (every ``--log-interval`` updates): ``num_updates``,
  ``loss``, ``ppl`` and ``wall``, the whole seconds since fairseq built its Trainer.
* ``... | INFO | valid | {...}`` (each validation): ``valid_num_updates``, ``valid_loss`` and
  ``valid_ppl``, but no wall time.  A dev point's wall time is therefore the line's own
  timestamp (one-second resolution) minus the timestamp of the log's first timestamped line.
  That first line comes from fairseq's start-up, a little before the Trainer exists, so dev
  times can run a few seconds ahead of train times; this is negligible on runs of minutes.

The end-of-epoch ``| train |`` summaries repeat the train_inner averages and are not used.
fairseq's ``loss`` is in base 2 (``ppl = 2 ** nll_loss``); the curves show ``ppl``, as the
assignment reports perplexity.  The PNG has two panels, perplexity (log scale) against updates
and against wall-clock minutes.  ``--json`` also writes the points as
``{"train": [...], "valid": [...]}``, each point
``{"num_updates", "wall_seconds", "loss", "ppl"}``.  Outputs are written to a temporary file
and renamed into place.  Errors (a missing or unreadable log, a log without train or dev
points) print one line on stderr and exit with status 1.
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from cs224n_nmt_plugin.errors import InputError
from cs224n_nmt_plugin.text.files import stream_writer, text_writer, write_files

TIMESTAMP_FORMAT = "%Y-%m-%d %H:%M:%S"
TIMESTAMPED_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) \| ")
RECORD_LINE = re.compile(
    r"^(?P<time>\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) \| \w+ \| (?P<tag>train_inner|valid) \| (?P<record>\{.*\})\s*$"
)
FIGURE_SIZE_INCHES = (12, 4.5)
FIGURE_DPI = 100


@dataclass(frozen=True)
class Point:
    num_updates: int
    wall_seconds: float
    loss: float  # base 2, as fairseq logs it
    ppl: float


@dataclass(frozen=True)
class Curves:
    train: list[Point]
    valid: list[Point]


def _parse_time(text: str) -> datetime:
    return datetime.strptime(text, TIMESTAMP_FORMAT)


def _train_point(record: dict) -> Point:
    return Point(int(record["num_updates"]), float(record["wall"]), float(record["loss"]), float(record["ppl"]))


def _valid_point(record: dict, seconds_since_first_line: float) -> Point:
    return Point(
        int(record["valid_num_updates"]),
        seconds_since_first_line,
        float(record["valid_loss"]),
        float(record["valid_ppl"]),
    )


def parse_log(lines: Iterable[str], source: str = "log") -> Curves:
    """Train points from train_inner lines and dev points from valid lines, in log order."""
    curves = Curves(train=[], valid=[])
    first_time = None
    for line_number, line in enumerate(lines, start=1):
        stamp = TIMESTAMPED_LINE.match(line)
        if stamp and first_time is None:
            first_time = _parse_time(stamp.group(1))
        match = RECORD_LINE.match(line)
        if not match:
            continue
        try:
            record = json.loads(match["record"])
            if match["tag"] == "train_inner":
                curves.train.append(_train_point(record))
            else:
                seconds = (_parse_time(match["time"]) - first_time).total_seconds()
                curves.valid.append(_valid_point(record, seconds))
        except (ValueError, KeyError) as error:
            raise InputError(source, f"line {line_number}: bad {match['tag']} record ({error!r})") from None
    return curves


def read_curves(log_path: Path) -> Curves:
    try:
        with open(log_path, encoding="utf-8", errors="replace") as log:
            curves = parse_log(log, source=str(log_path))
    except OSError as error:
        raise InputError(log_path, f"cannot read log ({error.strerror})") from None
    missing = [kind for kind, points in (("train_inner", curves.train), ("valid", curves.valid)) if not points]
    if missing:
        raise InputError(log_path, f"no {' or '.join(missing)} points (not a fairseq-train --log-format json log?)")
    return curves


def plot_curves(curves: Curves, title: str, out_png: Path) -> None:
    """Perplexity (log scale) against updates and against wall-clock minutes, train and dev."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    figure, (by_updates, by_minutes) = plt.subplots(1, 2, figsize=FIGURE_SIZE_INCHES, dpi=FIGURE_DPI)
    for label, points, style in (("train", curves.train, "-"), ("dev", curves.valid, "o-")):
        ppl = [p.ppl for p in points]
        by_updates.plot([p.num_updates for p in points], ppl, style, label=label, markersize=3)
        by_minutes.plot([p.wall_seconds / 60 for p in points], ppl, style, label=label, markersize=3)
    for axes, xlabel in ((by_updates, "updates"), (by_minutes, "wall-clock minutes")):
        axes.set_yscale("log")
        axes.set_xlabel(xlabel)
        axes.set_ylabel("perplexity")
        axes.grid(True, which="both", alpha=0.3)
        axes.legend()
    figure.suptitle(title)
    figure.tight_layout()
    try:
        write_files({out_png: stream_writer(lambda handle: figure.savefig(handle, format="png", dpi=FIGURE_DPI))})
    finally:
        plt.close(figure)


def mermaid_dev_ppl(valid_by_label: dict[str, list[Point]], colors: list[str]) -> str:
    """Dev perplexity against wall-clock minutes as a Mermaid ``xychart-beta`` block: a plot that
    a markdown page renders from text. Mermaid has no log axis, so the lines show log2 of the
    perplexity (the cross-entropy in bits per word), as the PNG's log scale does. Its lines share
    one x axis, so each model is read at every whole minute from the first at which all have been
    validated to the last at which all are still training, its value there being its latest dev
    perplexity at that time (what a user watching the run would have seen). ``colors`` are the
    lines' colours, in order."""
    first_minute = max(1, math.ceil(max(points[0].wall_seconds for points in valid_by_label.values()) / 60))
    last_minute = int(min(points[-1].wall_seconds for points in valid_by_label.values()) // 60)
    minutes = list(range(first_minute, last_minute + 1))
    if not minutes:
        raise ValueError("the runs share no whole minute of dev points to chart")

    def latest_bits(points: list[Point], minute: int) -> float:
        return math.log2([p.ppl for p in points if p.wall_seconds <= minute * 60][-1])

    series = [[latest_bits(points, minute) for minute in minutes] for points in valid_by_label.values()]
    bottom, top = math.floor(min(map(min, series))), math.ceil(max(map(max, series)))
    palette = ", ".join(colors[: len(series)])
    return "\n".join([
        "```mermaid",
        f'%%{{init: {{"theme": "base", "themeVariables": {{"xyChart": {{"plotColorPalette": "{palette}"}}}}}}}}%%',
        "xychart-beta",
        f'    title "log2 dev perplexity vs wall time: {" / ".join(valid_by_label)}"',
        f'    x-axis "wall-clock minutes" [{", ".join(map(str, minutes))}]',
        f'    y-axis "log2 dev perplexity" {bottom} --> {top}',
        *(f"    line [{', '.join(f'{bits:.3f}' for bits in line)}]" for line in series),
        "```",
    ]) + "\n"


def write_json(curves: Curves, out_json: Path) -> None:
    payload = {"train": [asdict(p) for p in curves.train], "valid": [asdict(p) for p in curves.valid]}
    write_files({out_json: text_writer(json.dumps(payload, indent=1) + "\n")})


def add_arguments(parser) -> None:
    parser.add_argument("train_log", type=Path, help="log of fairseq-train --log-format json")
    parser.add_argument("out_png", type=Path, help="learning-curve image to write")
    parser.add_argument("--json", type=Path, dest="out_json", help="also write the parsed points here")


def run(args) -> None:
    curves = read_curves(args.train_log)
    plot_curves(curves, args.train_log.name, args.out_png)
    if args.out_json is not None:
        write_json(curves, args.out_json)
