"""scripts/compare.py trains its models in alternating rounds: the plan and the aggregation on given
figures (exact, nothing timed), then one tiny comparison end to end (interrupted, and resumed),
its exact resume against uninterrupted runs, and its refusals of bad input."""
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from conftest import REPO, fairseq_records, run_script, write_tatoeba_copy
from cs224n_nmt_plugin.settings import decoding_summary

sys.path.insert(0, str(REPO / "scripts"))
from compare_rounds import (
    BudgetError,
    Target,
    catch_up_targets,
    make_plan,
    ratio_summary,
    read_round_log,
    round_orders,
    timed_dev_points,
)

COMPARE = [sys.executable, str(REPO / "scripts" / "compare.py")]
# Two models, 24 updates a round: the corpus has 20 batches, so round 2 resumes in one epoch and ends in the next.
TINY = ["--precision-variants", "--size", "32", "--updates", "48", "--rounds", "2"]
FLOAT32, BF16 = "cs224n_lstm float32", "cs224n_lstm cpu-autocast bf16"


# ----- the plan ----------------------------------------------------------------------------


def test_round_i_starts_with_model_i_mod_n_and_every_model_starts_as_often():
    orders = round_orders(["a", "b", "c"], 6)
    assert [order[0] for order in orders] == ["a", "b", "c", "a", "b", "c"]
    assert all(sorted(order) == ["a", "b", "c"] for order in orders)
    for label in "abc":  # every position, twice each
        assert sorted(order.index(label) for order in orders) == [0, 0, 1, 1, 2, 2]


def test_rounds_of_updates_end_at_equal_slices_and_log_whole_intervals():
    plan = make_plan("updates", 4000, 8)
    assert [plan.target(r) for r in (1, 2, 8)] == [Target("updates", 500), Target("updates", 1000),
                                                  Target("updates", 4000)]
    assert plan.log_interval == 50
    for amount, rounds in ((12, 2), (14, 2), (4, 2), (970, 10)):
        slice_ = amount // rounds
        interval = make_plan("updates", amount, rounds).log_interval
        assert slice_ % interval == 0 and slice_ // interval >= 2  # no interval spans two rounds
    seconds = make_plan("seconds", 60, 4)
    assert seconds.target(3) == Target("seconds", 45)
    assert seconds.target(3).stop_options() == ["--stop-time-hours", repr(45 / 3600)]
    assert Target("updates", 12).stop_options() == ["--max-update", "12"]


@pytest.mark.parametrize("kind, amount, rounds, message", [
    ("updates", 5, 4, "--updates 5 is not a multiple of --rounds 4"),
    ("updates", 6, 6, "gives each model 1 update(s) a round, under the 2 a round needs"),
    ("seconds", 36, 4, "gives each model 9.00 s a round, under the 10 s a round needs"),
    ("updates", 10, 0, "--rounds 0: there must be at least one round"),
])
def test_a_budget_too_small_for_its_rounds_is_refused(kind, amount, rounds, message):
    with pytest.raises(BudgetError) as refusal:
        make_plan(kind, amount, rounds)
    assert message in str(refusal.value) and "\n" not in str(refusal.value)


def test_the_catch_up_brings_every_model_to_the_other_measure_of_equal_work():
    after_updates = catch_up_targets(make_plan("updates", 100, 2), {"a": (100, 50.0), "b": (100, 80.0),
                                                                    "c": (100, 79.5)})
    assert after_updates == {"a": Target("seconds", 80.0), "b": None, "c": None}  # c: within one of its updates
    after_seconds = catch_up_targets(make_plan("seconds", 60, 2), {"a": (120, 60.1), "b": (90, 60.4)})
    assert after_seconds == {"a": None, "b": Target("updates", 120)}
    assert Target("seconds", 80.0).reached(updates=150, seconds=80.2)
    assert not Target("updates", 120).reached(updates=119, seconds=99.0)


# ----- one round's log and the aggregation ---------------------------------------------------


def fairseq_line(tag, record):
    return f"2026-01-01 00:00:00 | INFO | {tag} | {json.dumps({k: str(v) for k, v in record.items()})}"


def test_a_round_counts_every_train_inner_interval_but_its_first():
    log = "\n".join([
        "2026-01-01 00:00:00 | INFO | fairseq.trainer | Loaded checkpoint /r/checkpoint_last.pt (epoch 2 @ 30 updates)",
        "2026-01-01 00:00:00 | INFO | fairseq_cli.train | num. shared model params: 7,354,000",
        fairseq_line("train_inner", {"num_updates": 40, "loss": 5.5, "wpb": 100, "wps": 10}),  # held a validation
        fairseq_line("train_inner", {"num_updates": 50, "loss": 5.25, "wpb": 200, "wps": 1000}),
        fairseq_line("valid", {"valid_num_updates": 55, "valid_ppl": 40.5}),
        fairseq_line("train_inner", {"num_updates": 60, "loss": 5.0, "wpb": 300, "wps": 500}),
        fairseq_line("valid", {"valid_num_updates": 60, "valid_ppl": 33.0}),
    ])
    figures = read_round_log(log, log_interval=10)
    assert (figures.tokens, figures.seconds, figures.counted_intervals) == (5000, 8, 2)  # 2000 in 2 s, 3000 in 6 s
    assert figures.train_losses == [[40, 5.5], [50, 5.25], [60, 5.0]]
    assert figures.valid == [[55, 40.5], [60, 33.0]]
    assert figures.parameters == 7_354_000 and figures.resumed_from == ("/r/checkpoint_last.pt", 30)
    assert figures.peak_cuda_memory_mb is None


def test_dev_points_inside_a_process_get_the_time_interpolated_by_updates():
    segments = [((0, 0.0), (100, 50.0), [[100, 30.0]]), ((100, 50.0), (200, 130.0), [[150, 20.0], [200, 15.0]])]
    assert timed_dev_points(segments) == [(100, 50.0, 30.0), (150, 90.0, 20.0), (200, 130.0, 15.0)]


def whole_run(rates, tokens_a_round=10_000):
    """The one figure of a model trained in one go: all its tokens over all its seconds."""
    return [tokens_a_round * len(rates) / sum(tokens_a_round / rate for rate in rates)]


def test_one_slowed_round_does_not_flip_the_ratio_as_it_flips_one_after_another():
    b = [1000.0, 1020.0, 990.0, 1010.0, 1000.0, 1005.0]
    a = [1.1 * rate for rate in b]
    a[2] /= 3  # the machine slowed to a third while A trained in round 3
    rounds = ratio_summary(a, b)
    assert rounds["median"] == pytest.approx(1.1) and rounds["above_one"] == 5
    assert rounds["low"] == pytest.approx(1.1 / 3) and rounds["verdict"].startswith("not distinguishable")
    one_after_another = ratio_summary(whole_run(a), whole_run(b))
    assert one_after_another["median"] < 1  # B called the faster one
    assert one_after_another["verdict"].startswith("one round: not tested")


def test_a_slow_period_over_a_whole_round_cancels_in_its_ratio():
    b = [1000.0, 1020.0, 990.0, 1010.0, 1000.0, 1005.0]
    a = [1.1 * rate for rate in b]
    a[4], b[4] = a[4] / 2, b[4] / 2
    summary = ratio_summary(a, b)
    assert summary["low"] == pytest.approx(1.1) and summary["high"] == pytest.approx(1.1)
    assert summary["verdict"] == "faster in every round (sign test p = 0.031)"
    assert ratio_summary(b, a)["verdict"] == "slower in every round (sign test p = 0.031)"
    assert ratio_summary(a[:3], b[:3])["verdict"].startswith("same side of 1.0 in every round, but too few rounds")


# ----- a tiny comparison, end to end ----------------------------------------------------------


def prepare_tiny_corpus(root, env):
    corpus = write_tatoeba_copy(root / "spa.txt", 700)
    run_script("prepare.sh", "tiny", "tatoeba", corpus, "--valid-size", "40", "--test-size", "40", env=env)
    run_script("preprocess.sh", "tiny", env=env)


def interrupt_after_the_first_round_record(env, progress):
    """compare.py killed with everything it started once its first process is recorded (the next
    one is then starting up)."""
    process = subprocess.Popen([*COMPARE, "tiny", *TINY], env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        while not (progress.is_file() and json.loads(progress.read_text())["records"]):
            assert process.poll() is None, "compare.py ended before its first record"
            time.sleep(0.05)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    return json.loads(progress.read_text())["records"]


@pytest.fixture(scope="module")
def compared(tmp_path_factory):
    root = tmp_path_factory.mktemp("compare")
    env = {**os.environ, "DATA_BIN_ROOT": str(root / "data-bin"), "OUTPUTS_ROOT": str(root / "outputs"),
           "OMP_NUM_THREADS": "1"}
    prepare_tiny_corpus(root, env)
    out = root / "outputs" / "tiny" / "compare-precision"
    before = interrupt_after_the_first_round_record(env, out / "progress.json")
    first_log = out / before[0]["label"].replace(" ", "_") / "logs" / "rounds-01.log"
    first_log_written = first_log.stat().st_mtime_ns
    resumed = run_script("compare.py", "tiny", *TINY, env=env)
    return {"root": root, "env": env, "out": out, "before": before, "resumed": resumed,
            "first_log_unchanged": first_log.stat().st_mtime_ns == first_log_written,
            "report": json.loads((out / "comparison.json").read_text())}


@pytest.mark.slow
def test_an_interrupted_comparison_resumes_after_its_finished_rounds(compared):
    assert "resuming the comparison" in compared["resumed"].stdout
    records = compared["report"]["rounds"]
    assert records[0] == compared["before"][0] and compared["first_log_unchanged"]  # not trained again
    assert f"training {compared['before'][0]['label']} to 24 updates" not in compared["resumed"].stdout


@pytest.mark.slow
def test_rounds_rotate_and_every_model_resumes_from_its_own_checkpoint(compared):
    records = [r for r in compared["report"]["rounds"] if r["phase"] == "rounds"]
    assert [(r["round"], r["label"]) for r in records] == [(1, FLOAT32), (1, BF16), (2, BF16), (2, FLOAT32)]
    for record in records:
        assert record["updates"] == 24 * record["round"]
        if record["round"] == 2:
            own = compared["out"] / record["label"].replace(" ", "_") / "checkpoints" / "checkpoint_last.pt"
            assert record["resumed_from"] == [str(own), 24]


@pytest.mark.slow
def test_the_rounds_give_the_losses_of_an_uninterrupted_run(compared, tmp_path):
    import compare

    runs = {}  # one uninterrupted run of each model, side by side (one thread each)
    for label, options in compared["report"]["settings"]["contestants"].items():
        command = compare.training_command(options, compared["root"] / "data-bin" / "tiny",
                                           tmp_path / label.replace(" ", "_"), Target("updates", 48), log_interval=12)
        runs[label] = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                       env=compared["env"])
    for label, run in runs.items():
        log = run.communicate()[0]
        assert run.returncode == 0, log[-3000:]
        uninterrupted = [[int(r["num_updates"]), float(r["loss"])] for r in fairseq_records(log, "train_inner")]
        rounds = [point for r in compared["report"]["rounds"] if r["label"] == label and r["phase"] == "rounds"
                  for point in r["train_losses"]]
        assert rounds == uninterrupted and [u for u, _ in rounds] == [12, 24, 36, 48]


@pytest.mark.slow
def test_figures_at_equal_updates_and_at_equal_training_time(compared):
    results = compared["report"]["results"]
    assert all(results[label]["equal_updates"]["updates"] == 48 for label in (FLOAT32, BF16))
    slowest = max(results[label]["equal_updates"]["training_seconds"] for label in results)
    for result in results.values():
        at_time = result["equal_time"]
        if at_time["updates"] > 48:  # trained on until its time passed the slowest one's
            assert at_time["training_seconds"] >= slowest
        else:
            assert slowest - at_time["training_seconds"] <= at_time["training_seconds"] / at_time["updates"]
        for point in ("equal_updates", "equal_time"):
            assert result[point]["best_dev_ppl"] > 1 and result[point]["generate_beam5_sentences_per_s"] > 0


@pytest.mark.slow
def test_the_table_shows_the_rounds_the_spreads_and_what_the_significance_tests(compared):
    table = (compared["out"] / "comparison.md").read_text()
    assert "in 2 rounds of 24 updates" in table and f"test decoding: {decoding_summary('homework')}." in table
    tokens_row = next(line for line in table.splitlines() if line.startswith("| train target tokens/s"))
    assert "median of 2 rounds (range)" in tokens_row and tokens_row.count("–") == 2
    throughput = compared["report"]["throughput_ratios"]["bf16 / float32"]
    ratio_row = next(line for line in table.splitlines() if line.startswith("| bf16 / float32 | ")
                     and f"{throughput['low']:.2f}–{throughput['high']:.2f}" in line)
    assert f"{throughput['above_one']} of 2" in ratio_row and throughput["verdict"] in ratio_row
    assert len(throughput["ratios"]) == 2
    assert "| bf16 / float32 | at equal updates |" in table and "| bf16 / float32 | at equal training time |" in table
    assert "test these two sets of test translations" in table
    assert (compared["out"] / "dev_ppl.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.slow
def test_other_settings_are_refused_in_one_line_and_nothing_is_touched(compared):
    files = {path: path.read_bytes() for path in compared["out"].glob("*.json")}
    result = run_script("compare.py", "tiny", *TINY[:-1], "3", env=compared["env"], check=False)
    assert result.returncode != 0 and result.stdout == ""
    assert result.stderr.strip().count("\n") == 0
    assert "holds a comparison with other settings (rounds; see its settings.json)" in result.stderr
    assert {path: path.read_bytes() for path in compared["out"].glob("*.json")} == files


@pytest.mark.slow  # runs compare.py
def test_a_budget_too_small_exits_in_one_line_before_writing_anything(tmp_path):
    env = {**os.environ, "DATA_BIN_ROOT": str(tmp_path / "data-bin"), "OUTPUTS_ROOT": str(tmp_path / "outputs")}
    result = run_script("compare.py", "tiny", "--updates", "3", "--rounds", "2", env=env, check=False)
    assert result.returncode != 0
    assert result.stderr.strip() == ("[compare] error: --updates 3 is not a multiple of --rounds 2: every round "
                                     "trains each model the same number of updates")
    assert list(tmp_path.iterdir()) == []
