"""Progress a person can read: fairseq-train's output turned into a bar, validation lines and an
ending (cs224n-nmt train-progress, which train.sh pipes fairseq-train through), and the count of
translated sentences (cs224n-nmt generate-progress)."""
import io
import json
import os
import re
from datetime import datetime, timedelta

import pytest

from conftest import hypotheses, run_cli, run_script, write_copy_corpus
from cs224n_nmt_plugin.text.generate_progress import GenerateProgress
from cs224n_nmt_plugin.text.progress_display import ProgressDisplay, bar, duration
from cs224n_nmt_plugin.text.train_progress import Plan, TrainProgress

START = datetime(2026, 1, 1, 12, 0, 0)
CONFIG = ("{'_name': None, 'common': {'log_format': 'json'}, 'optimization': {'_name': None, 'max_epoch': %d, "
          "'max_update': %d, 'stop_time_hours': 0.0, 'clip_norm': 5.0, 'lr': [0.001], 'stop_min_lr': 3.2e-05}, "
          "'dataset': {'validate_interval_updates': %d}, 'lr_scheduler': {'lr_shrink': 0.5, 'lr': [0.001]}}")
MODEL_PRINTOUT = ["CS224nNMTModel(", "  (encoder): CS224nEncoder(", "  )", ")"]


class FairseqLog:
    """fairseq-train's lines, as its logging writes them, at times counted from START."""

    def __init__(self):
        self.lines = []

    def record(self, seconds, source, message, level="INFO"):
        time = (START + timedelta(seconds=seconds)).strftime("%Y-%m-%d %H:%M:%S")
        self.lines.append(f"{time} | {level} | {source} | {message}\n")
        return self

    def raw(self, line):
        self.lines.append(f"{line}\n")
        return self

    def start(self, max_epoch=30, max_update=0, validate_every=1000):
        self.record(0, "fairseq.tasks.text_to_speech", "Please install tensorboardX: pip install tensorboardX")
        self.record(1, "fairseq_cli.train", CONFIG % (max_epoch, max_update, validate_every))
        self.record(1, "fairseq_cli.train", MODEL_PRINTOUT[0])
        for line in MODEL_PRINTOUT[1:]:
            self.raw(line)
        self.record(1, "fairseq.trainer", "detected shared parameter: encoder.h_projection.bias <- "
                                          "encoder.c_projection.bias")
        return self

    def iterating(self, seconds):
        return self.record(seconds, "fairseq_cli.train", "Start iterating over samples")

    def train_inner(self, seconds, updates, epochs_done, loss, lr=0.001):
        record = {"epoch": int(epochs_done) + 1, "update": f"{epochs_done:.3f}", "loss": f"{loss}",
                  "num_updates": str(updates), "lr": str(lr)}
        return self.record(seconds, "train_inner", json.dumps(record))

    def valid(self, seconds, updates, ppl):
        return self.record(seconds, "valid", json.dumps({"valid_ppl": str(ppl), "valid_num_updates": str(updates)}))


def replay(log, mode="lines"):
    console = io.StringIO()
    progress = TrainProgress(ProgressDisplay("[train]", stream=console, mode=mode))
    for line in log.lines:
        progress.read(line)
    progress.close()
    return progress, console.getvalue()


def update_limited_run():
    log = FairseqLog().start(max_update=2000, validate_every=1000).iterating(10)
    log.train_inner(40, 500, 0.4, 8.5).train_inner(70, 1000, 0.8, 7.25).valid(80, 1000, 60.5)
    log.train_inner(110, 1500, 1.2, 6.0).train_inner(140, 2000, 1.6, 5.5)
    log.record(140, "fairseq_cli.train", "Stopping training due to num_updates: 2000 >= max_update: 2000")
    log.valid(150, 2000, 40.25).record(151, "fairseq_cli.train", "done training in 141.0 seconds")
    return log


def test_the_console_gets_the_plan_the_validations_and_the_ending_the_log_lines_stay_out():
    _, console = replay(update_limited_run())
    assert console.splitlines() == [
        "[train] plan: 2,000 updates, stops early once the learning rate has been shrunk 5 times, "
        "dev perplexity every 1,000 updates",
        # 1,000 of 2,000 updates in the 70 s since iterating began: as long again is left
        "[train] 1,000/2,000 updates: dev ppl 60.50 (best 60.50), train loss 7.25, 1:10 spent, ~1:10 left",
        "[train] 2,000/2,000 updates: dev ppl 40.25 (best 40.25), train loss 5.50, 2:20 spent, ~0:00 left",
        "[train] finished: 2,000/2,000 updates in 2:21; best dev ppl 40.25 (num_updates: 2000 >= max_update: 2000)",
    ]
    for hidden in ("tensorboardX", "detected shared parameter", "CS224nNMTModel", "(encoder)", "{", "train_inner"):
        assert hidden not in console


def test_the_bar_counts_updates_and_estimates_the_time_left_from_the_pace_so_far():
    log = FairseqLog().start(max_update=2000).iterating(10).train_inner(40, 500, 0.4, 8.5)
    progress, _ = replay(log)
    assert progress.fraction() == 0.25
    assert progress.seconds_left() == 90  # 500 updates took 30 s: 1,500 more take 90
    assert progress.status() == f"{bar(0.25)}  25% ~1:30 left | 500/2,000 updates | loss 8.50"


def test_a_run_stopped_by_the_learning_rate_counts_epochs_and_shrinks_and_bounds_the_time_from_above():
    log = FairseqLog().start(max_epoch=30, max_update=0).iterating(0)
    log.train_inner(600, 20000, 3.0, 4.0, lr=0.00025).valid(610, 20000, 9.5)
    progress, console = replay(log)
    assert progress.fraction() == pytest.approx(0.1)
    assert progress.status() == (f"{bar(0.1)}  10% at most ~1:31:30 left | epoch 3.00 of 30, 20,000 updates | "
                                 "loss 4.00 | dev ppl 9.50 | lr 0.00025 (shrunk 2 of 5)")
    assert "[train] plan: at most 30 epochs, stops early once the learning rate has been shrunk 5 times" in console
    assert console.splitlines()[-1] == "[train] fairseq-train stopped at 20,000 updates"  # no "done training"


def test_a_resumed_run_says_where_it_resumed_and_paces_itself_on_the_updates_of_this_process():
    log = FairseqLog().start(max_update=2000)
    log.record(2, "fairseq.trainer", "Loaded checkpoint /x/checkpoint_last.pt (epoch 2 @ 1000 updates)")
    log.iterating(10).train_inner(60, 1500, 1.2, 6.0)
    progress, console = replay(log)
    assert "[train] resumed at 1,000 updates (epoch 2)" in console
    assert progress.seconds_left() == 50  # 500 updates in 50 s, 500 to go


def test_warnings_errors_and_python_warnings_reach_the_console_with_their_continuation_lines():
    log = FairseqLog().start(max_update=100).iterating(1)
    log.record(2, "fairseq.trainer", "OOM: Ran out of memory with exception", level="WARNING")
    log.raw("|===========================================================================|")
    log.record(3, "fairseq.trainer", "begin training epoch 2")
    log.raw("/usr/lib/python3/site-packages/torch/x.py:12: UserWarning: something torch wants said")
    log.raw("  warnings.warn(")
    log.record(4, "fairseq_cli.train", "a line for the log only")
    log.raw("more of it")
    _, console = replay(log)
    shown = [line for line in console.splitlines() if "plan:" not in line and "stopped at" not in line]
    assert shown == ["[train] 2026-01-01 12:00:02 | WARNING | fairseq.trainer | OOM: Ran out of memory with exception",
                     "[train] |===========================================================================|",
                     "[train] /usr/lib/python3/site-packages/torch/x.py:12: UserWarning: something torch wants said",
                     "[train]   warnings.warn("]


def test_plan_counts_the_shrinks_that_stop_the_run():
    assert Plan(lr=1e-3, stop_min_lr=3.2e-5, lr_shrink=0.5).shrinks_to_stop() == 5  # 1e-3 / 2**5 < 3.2e-5
    assert Plan(lr=1e-3, stop_min_lr=-1, lr_shrink=0.5).shrinks_to_stop() == 0  # fairseq's default: never
    assert Plan.from_config(CONFIG % (30, 16000, 1000)) == Plan(
        max_update=16000, max_epoch=30, lr=1e-3, stop_min_lr=3.2e-5, lr_shrink=0.5, validate_interval_updates=1000)


def test_bar_mode_redraws_one_line_in_place_and_keeps_notes_above_it():
    console, now = io.StringIO(), [0.0]
    display = ProgressDisplay("[x]", stream=console, mode="bar", clock=lambda: now[0])
    display.status("first, longer")
    now[0] += 1
    display.status("second")
    assert render(console.getvalue()) == ["[x] second"]
    assert console.getvalue().endswith("\r[x] second" + " " * len(" longer"))  # covers the longer line's end
    display.note("a note")
    assert render(console.getvalue()) == ["[x] a note", "[x] second"]
    display.close()
    assert render(console.getvalue()) == ["[x] a note", ""]


def test_bar_mode_redraws_at_most_five_times_a_second_and_a_note_shows_the_latest():
    console, now = io.StringIO(), [0.0]
    display = ProgressDisplay("[x]", stream=console, mode="bar", clock=lambda: now[0])
    for step in range(10):
        now[0] = step / 16  # exact in binary
        display.status(f"step {step}")
    assert console.getvalue().count("\r") == 3  # steps 0, 4 and 8: 0, 0.25 and 0.5 s
    assert render(console.getvalue()) == ["[x] step 8"]
    display.note("done")
    assert render(console.getvalue()) == ["[x] done", "[x] step 9"]


def render(text):
    """What a terminal shows for text with carriage returns: each line as last overwritten."""
    lines = []
    for line in text.split("\n"):
        screen = ""
        for part in line.split("\r"):
            screen = part + screen[len(part):]
        lines.append(screen.rstrip())
    return lines


def test_durations_and_bars():
    assert [duration(s) for s in (0, 59.6, 61, 3600, 3723)] == ["0:00", "1:00", "1:01", "1:00:00", "1:02:03"]
    assert bar(0.5, width=4) == "[##..]" and bar(1.7, width=2) == "[##]" and bar(-1, width=2) == "[..]"


def test_generate_progress_counts_hypotheses_and_elsewhere_prints_a_line_a_tenth_after_the_first_minute():
    now = [0.0]
    console = io.StringIO()
    display = ProgressDisplay("[translate]", stream=console, mode="lines")
    progress = GenerateProgress(display, total=20, clock=lambda: now[0])
    for seconds, line in ((10, b"S-0\tuna\n"), (20, b"H-0\t-0.5\tone\n"), (30, b"D-0\t-0.5\tone\n"),
                          (59, b"H-1\t-0.2\ttwo\n"), (90, b"H-2\t-0.2\ttwo\n"), (91, b"H-3\t-0.2\ttwo\n"),
                          (92, b"H-4\t-0.2\ttwo\n")):
        now[0] = seconds
        progress.read(line)
    assert progress.done == 5
    # nothing in the first minute; at 90 s 15% done, paced from the first hypothesis (the model loads
    # before it): 35 s a sentence; at 91 s 5% more than that line (none), at 92 s 10% more
    assert console.getvalue() == (f"[translate] {bar(0.15)}  15% 3/20 sentences, 1:30 spent, ~9:55 left\n"
                                  f"[translate] {bar(0.25)}  25% 5/20 sentences, 1:32 spent, ~4:30 left\n")


def run_command(*args, stdin):
    return run_cli(*args, stdin=stdin, text=False, env={**os.environ, "PROGRESS_DISPLAY": "lines"})


def test_the_commands_copy_every_byte_to_their_file(tmp_path):
    log = update_limited_run()
    text = "".join(log.lines).encode() + b"a stray \xff byte\n"
    result = run_command("train-progress", tmp_path / "train.log", stdin=text)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "train.log").read_bytes() == text
    assert result.stdout.decode().splitlines()[-1].startswith("[train] finished: 2,000/2,000 updates")

    output = b"S-0\tuna\nH-0\t-0.5\tone\n\xff\n"
    result = run_command("generate-progress", tmp_path / "gen.txt", "--total", "1", stdin=output)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "gen.txt").read_bytes() == output and result.stdout == b""  # a quick step prints nothing


@pytest.mark.slow
def test_train_sh_shows_progress_and_keeps_fairseqs_whole_output_in_its_log(tmp_path):
    corpus = write_copy_corpus(tmp_path / "corpus", sizes=(("train", 400), ("dev", 40), ("test", 10)))
    env = {**os.environ, "DATA_BIN_ROOT": str(tmp_path / "data-bin"), "OUTPUTS_ROOT": str(tmp_path / "outputs"),
           "RECIPE": "cpu", "PROGRESS_DISPLAY": "lines"}
    run_script("prepare.sh", "cp", "a4", corpus, env=env)
    run_script("preprocess.sh", "cp", env=env)
    result = run_script("train.sh", "cp", "--arch", "cs224n_lstm_tiny", "--max-update", "30",
                        "--validate-interval-updates", "15", "--log-interval", "5", env=env)
    console = result.stdout.splitlines()
    assert [line for line in console if ": dev ppl " in line][-1].startswith("[train] 30/30 updates: dev ppl ")
    assert any(line.startswith("[train] finished: 30/30 updates in ") for line in console)
    assert len(console) <= 10, console
    for hidden in ("tensorboardX", "detected shared parameter", "CS224nNMTModel", "| train_inner |", "'_name'"):
        assert hidden not in result.stdout + result.stderr
    log = (tmp_path / "outputs" / "cp" / "train.log").read_text()
    for kept in ("tensorboardX", "detected shared parameter", "CS224nNMTModel(", "| train_inner |", "'_name'"):
        assert kept in log

    failed = run_script("train.sh", "cp", "--arch", "no_such_arch", env={**env, "OUTPUTS_ROOT": str(tmp_path / "o2")},
                        check=False)
    assert failed.returncode == 1
    assert failed.stderr.strip().splitlines()[-1].startswith("[train] error: fairseq-train stopped before the end")
    assert "invalid choice: 'no_such_arch'" in failed.stderr  # the end of the log, shown

    # the test set's translation, counted on a bar that is gone when the step ends
    translate = run_script("translate.sh", "cp", env={**env, "PROGRESS_DISPLAY": "bar"}, text=False)
    console = translate.stdout.decode()  # not text=True: that would turn the bar's \r into line ends
    assert re.search(r"\r\[translate\] \[[#.]+\] +\d+% \d+/10 sentences, ", console)
    assert all(line.startswith("[translate] ") and "/10 sentences" not in line for line in render(console) if line)
    generated = (tmp_path / "outputs" / "cp" / "generate-test.txt").read_text()
    assert sorted(hypotheses(generated)) == list(range(10))
