"""Tests for the learning curves (cs224n_nmt_plugin/text/learning_curve.py): parsing a fairseq-train json log, the PNG and
JSON it writes, and its one-line errors on the command line."""
import json
from dataclasses import asdict

import pytest

from conftest import loaded_after, run_cli
from cs224n_nmt_plugin.errors import InputError
from cs224n_nmt_plugin.text.files import stream_writer, write_files
from cs224n_nmt_plugin.text.learning_curve import (
    FIGURE_DPI,
    FIGURE_SIZE_INCHES,
    Curves,
    Point,
    mermaid_dev_ppl,
    parse_log,
)

# Lines of a real run (fairseq 0.12.3, cs224n_lstm_tiny, --log-format json --log-interval 5
# --validate-interval-updates 10), trimmed; the hydra warning is stderr interleaved before the
# first timestamped line, which is the clock's zero for dev points (03:11:14).
LOG_HEAD = """\
/work/main/.venv/lib/python3.11/site-packages/hydra/experimental/initialize.py:43: UserWarning: hydra.experimental.initialize() is no longer experimental. Use hydra.initialize()
2026-11-29 03:11:14 | INFO | fairseq.tasks.text_to_speech | Please install tensorboardX: pip install tensorboardX
2026-11-29 03:11:15 | INFO | fairseq.tasks.translation | [es] dictionary: 256 types
"""
TRAIN_INNER_5 = """\
2026-11-29 03:11:17 | INFO | train_inner | {"epoch": 1, "update": 0.385, "loss": "51.552", "nll_loss": "7.954", "ppl": "247.97", "wps": "7349.1", "ups": "33.76", "wpb": "207.4", "bsz": "32", "num_updates": "5", "lr": "0.005", "gnorm": "0.689", "train_wall": "0", "wall": "2"}
"""
LOG_BODY = """\
2026-11-29 03:11:17 | INFO | train_inner | {"epoch": 1, "update": 0.769, "loss": "55.264", "nll_loss": "7.356", "ppl": "163.86", "wps": "8429.5", "ups": "35.06", "wpb": "240.4", "bsz": "32", "num_updates": "10", "lr": "0.005", "gnorm": "4.489", "train_wall": "0", "wall": "2"}
2026-11-29 03:11:17 | INFO | valid | {"epoch": 1, "valid_loss": "50.353", "valid_nll_loss": "6.73", "valid_ppl": "106.14", "valid_wps": "25832.6", "valid_wpb": "209.5", "valid_bsz": "28", "valid_num_updates": "10"}
2026-11-29 03:11:18 | INFO | valid | {"epoch": 1, "valid_loss": "48.602", "valid_nll_loss": "6.496", "valid_ppl": "90.24", "valid_wps": "22473.9", "valid_wpb": "209.5", "valid_bsz": "28", "valid_num_updates": "13"}
2026-11-29 03:11:18 | INFO | train | {"epoch": 1, "train_loss": "54.172", "train_nll_loss": "7.411", "train_ppl": "170.15", "train_wps": "5930.8", "train_ups": "25.85", "train_wpb": "224.9", "train_bsz": "30.8", "train_num_updates": "13", "train_lr": "0.005", "train_gnorm": "3.161", "train_train_wall": "0", "train_wall": "3"}
2026-11-29 03:11:18 | INFO | train_inner | {"epoch": 2, "update": 1.154, "loss": "50.383", "nll_loss": "6.548", "ppl": "93.57", "wps": "3069.2", "ups": "13.85", "wpb": "221.6", "bsz": "28.8", "num_updates": "15", "lr": "0.005", "gnorm": "4.442", "train_wall": "0", "wall": "3"}
2026-11-29 03:11:19 | INFO | valid | {"epoch": 3, "valid_loss": "48.829", "valid_nll_loss": "6.526", "valid_ppl": "92.16", "valid_wps": "19194.6", "valid_wpb": "209.5", "valid_bsz": "28", "valid_num_updates": "39", "valid_best_loss": "48.602"}
2026-11-29 03:11:19 | INFO | fairseq_cli.train | done training in 1.6 seconds
"""
LOG = LOG_HEAD + TRAIN_INNER_5 + LOG_BODY

EXPECTED = Curves(
    train=[
        Point(num_updates=5, wall_seconds=2.0, loss=51.552, ppl=247.97),
        Point(num_updates=10, wall_seconds=2.0, loss=55.264, ppl=163.86),
        Point(num_updates=15, wall_seconds=3.0, loss=50.383, ppl=93.57),
    ],
    valid=[
        Point(num_updates=10, wall_seconds=3.0, loss=50.353, ppl=106.14),
        Point(num_updates=13, wall_seconds=4.0, loss=48.602, ppl=90.24),
        Point(num_updates=39, wall_seconds=5.0, loss=48.829, ppl=92.16),
    ],
)


def test_parse_log_extracts_train_inner_and_valid_points():
    assert parse_log(LOG.splitlines(keepends=True)) == EXPECTED


def test_bad_record_is_reported_with_its_line_number():
    broken = TRAIN_INNER_5.replace('"ppl": "247.97", ', "")
    with pytest.raises(InputError, match=r"^train\.log: line 4: bad train_inner record \(KeyError\('ppl'\)\)$"):
        parse_log((LOG_HEAD + broken + LOG_BODY).splitlines(), source="train.log")


def test_module_import_does_not_load_matplotlib():
    assert loaded_after("import cs224n_nmt_plugin.text.learning_curve", ["matplotlib"]) == []


def test_cli_writes_png_and_json(tmp_path):
    log = tmp_path / "train.log"
    log.write_text(LOG)
    out_png, out_json = tmp_path / "curve.png", tmp_path / "points.json"
    completed = run_cli("curve", log, out_png, "--json", out_json)
    assert (completed.returncode, completed.stderr) == (0, "")

    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    matplotlib_image = pytest.importorskip("matplotlib.image")
    width, height = (round(inches * FIGURE_DPI) for inches in FIGURE_SIZE_INCHES)
    assert matplotlib_image.imread(out_png).shape == (height, width, 4)

    assert json.loads(out_json.read_text()) == {
        "train": [asdict(p) for p in EXPECTED.train],
        "valid": [asdict(p) for p in EXPECTED.valid],
    }
    assert sorted(p.name for p in tmp_path.iterdir()) == ["curve.png", "points.json", "train.log"]


@pytest.mark.parametrize(
    "log_text, problem",
    [
        (None, "cannot read log (No such file or directory)"),
        (LOG_HEAD, "no train_inner or valid points"),
        (LOG_HEAD + TRAIN_INNER_5, "no valid points"),
    ],
    ids=["missing", "no-points", "no-valid"],
)
def test_cli_log_errors_give_one_line_and_no_output(tmp_path, log_text, problem):
    log = tmp_path / "train.log"
    if log_text is not None:
        log.write_text(log_text)
    out_png = tmp_path / "curve.png"
    completed = run_cli("curve", log, out_png, "--json", tmp_path / "points.json")
    assert completed.returncode == 1
    assert len(completed.stderr.splitlines()) == 1, completed.stderr
    assert completed.stderr.startswith(f"error: {log}: {problem}")
    assert [p.name for p in tmp_path.iterdir()] == ([] if log_text is None else ["train.log"])


def test_cli_unwritable_output_gives_one_line_and_no_output(tmp_path):
    log = tmp_path / "train.log"
    log.write_text(LOG)
    out_png = tmp_path / "train.log" / "curve.png"  # a folder that is a file
    completed = run_cli("curve", log, out_png)
    assert completed.returncode == 1
    assert completed.stderr.startswith(f"error: {out_png}: cannot write (")
    assert len(completed.stderr.splitlines()) == 1
    assert [p.name for p in tmp_path.iterdir()] == ["train.log"]


def test_failed_write_leaves_the_old_file_and_no_partial_one(tmp_path):
    out_png = tmp_path / "curve.png"
    out_png.write_bytes(b"old")

    def write_half_then_fail(handle):
        handle.write(b"half a PNG")
        raise OSError(28, "No space left on device")

    with pytest.raises(InputError, match=r"curve\.png: cannot write \(No space left on device\)$"):
        write_files({out_png: stream_writer(write_half_then_fail)})
    assert [p.name for p in tmp_path.iterdir()] == ["curve.png"]
    assert out_png.read_bytes() == b"old"


def valid_points(*seconds_and_ppl):
    return [Point(num_updates=i, wall_seconds=s, loss=0.0, ppl=ppl) for i, (s, ppl) in enumerate(seconds_and_ppl)]


def test_mermaid_chart_reads_each_run_at_whole_minutes_both_cover():
    early = valid_points((50, 64.0), (130, 32.0), (190, 16.0))  # validated first, stops first
    late = valid_points((70, 128.0), (125, 8.0), (250, 4.0))
    chart = mermaid_dev_ppl({"a": early, "b": late}, ["#111111", "#222222", "#333333"]).splitlines()
    assert chart[0] == "```mermaid" and chart[-1] == "```"
    assert '"plotColorPalette": "#111111, #222222"' in chart[1]
    assert chart[2] == "xychart-beta"
    assert chart[4].strip() == 'x-axis "wall-clock minutes" [2, 3]'  # from ceil(70 s) to floor(190 s)
    assert chart[5].strip() == 'y-axis "log2 dev perplexity" 3 --> 7'
    # the latest validation at 120 s and at 180 s, as log2(ppl)
    assert [line.strip() for line in chart[6:8]] == ["line [6.000, 5.000]", "line [7.000, 3.000]"]


def test_mermaid_chart_of_runs_without_a_common_minute_is_an_error():
    with pytest.raises(ValueError, match="no whole minute"):
        mermaid_dev_ppl({"a": valid_points((10, 9.0), (50, 8.0)), "b": valid_points((70, 9.0))}, ["#000000"] * 2)
