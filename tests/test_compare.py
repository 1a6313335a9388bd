"""scripts/compare.py trains its models in alternating rounds: the plan and the aggregation on given
figures (exact, nothing timed)."""
import json
import sys

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "scripts"))
from compare_rounds import (BudgetError, Target, catch_up_targets, make_plan, ratio_summary,  # noqa: E402
                            read_round_log, round_orders, timed_dev_points)


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
