"""scripts/compare.py's alternation, as functions of given figures: the plan of the rounds (what
each round trains every model to, and in which order), what one round's fairseq-train log says,
and the summaries of the per-round figures (medians, ranges, paired ratios and the verdict they
allow). Nothing here runs or times anything, so that its tests are exact.

Why rounds: a machine's speed drifts (a shared server, a laptop, a cloud node with neighbours).
Models trained one after another each meet another stretch of that drift, so the ratio of their
speeds measures the machine as much as the models. In rounds, every model trains one slice of
its budget in every round, close in time to the others, so a slow period falls on all of them;
the ratio of two models is taken round by round, and its median and range over the rounds are
reported.
"""
import json
import re
import statistics
from dataclasses import dataclass

MIN_ROUND_UPDATES = 2  # a round must log two intervals: the first of each process is left out
MIN_ROUND_SECONDS = 10.0  # fairseq's clock also runs while each process loads its data and forms its batches
LONGEST_LOG_INTERVAL = 50  # updates
SECONDS_LOG_INTERVAL = 10  # updates, in rounds of seconds (which end anywhere)
SIGN_TEST_LEVEL = 0.05
RECORD = re.compile(r"\| (?P<tag>train_inner|valid) \| (?P<record>\{.*\})\s*$")
PARAMETERS = re.compile(r"num\. shared model params: ([\d,]+)")
PEAK_CUDA = re.compile(r"^peak_cuda_memory_mb ([\d.]+)$", re.M)
LOADED = re.compile(r"Loaded checkpoint (\S+) \(epoch \d+ @ (\d+) updates\)")


class BudgetError(ValueError):
    """A budget that cannot be split into the rounds asked for (one line for the user)."""


@dataclass(frozen=True)
class Target:
    """Where a resumed fairseq-train stops: a cumulative number of updates, or a cumulative
    training time in seconds (fairseq's own clock, which --stop-time-hours reads)."""
    kind: str  # "updates" or "seconds"
    value: float

    def stop_options(self):
        if self.kind == "updates":
            return ["--max-update", str(int(self.value))]
        return ["--stop-time-hours", repr(self.value / 3600)]

    def reached(self, updates, seconds):
        return (updates if self.kind == "updates" else seconds) >= self.value

    def describe(self):
        return f"{int(self.value):,} updates" if self.kind == "updates" else f"{self.value:,.1f} s of training"


@dataclass(frozen=True)
class Plan:
    """The budget of every model (``amount`` updates or seconds) in ``rounds`` equal slices."""
    kind: str  # "updates" or "seconds"
    amount: float
    rounds: int

    @property
    def slice(self):
        return self.amount // self.rounds if self.kind == "updates" else self.amount / self.rounds

    def target(self, round_number):
        """Where every model stands after round ``round_number`` (1-based)."""
        return Target(self.kind, self.slice * round_number)

    @property
    def log_interval(self):
        """Updates between fairseq's train_inner records. In rounds of updates a divisor of the
        slice, so that no interval spans two rounds; at least two intervals a round."""
        if self.kind == "seconds":
            return SECONDS_LOG_INTERVAL
        fitting = [d for d in range(1, LONGEST_LOG_INTERVAL + 1) if self.slice % d == 0 and self.slice // d >= 2]
        return max(fitting)


def make_plan(kind, amount, rounds):
    """The Plan, or BudgetError where the budget does not give every model a round's slice."""
    if rounds < 1:
        raise BudgetError(f"--rounds {rounds}: there must be at least one round")
    if kind == "updates":
        if amount % rounds:
            raise BudgetError(f"--updates {amount} is not a multiple of --rounds {rounds}: "
                              "every round trains each model the same number of updates")
        if amount // rounds < MIN_ROUND_UPDATES:
            raise BudgetError(f"--updates {amount} in {rounds} rounds gives each model {amount // rounds} update(s) "
                              f"a round, under the {MIN_ROUND_UPDATES} a round needs: fewer rounds or more updates")
    elif amount / rounds < MIN_ROUND_SECONDS:
        raise BudgetError(f"--seconds {amount:g} in {rounds} rounds gives each model {amount / rounds:.2f} s a round, "
                          f"under the {MIN_ROUND_SECONDS:g} s a round needs: fewer rounds or more seconds")
    return Plan(kind, amount, rounds)


def rotated(labels, start):
    labels = list(labels)
    start %= len(labels)
    return labels[start:] + labels[:start]


def round_orders(labels, rounds):
    """The training order of each round: round i (from 0) starts with model i mod n."""
    return [rotated(labels, index) for index in range(rounds)]


def catch_up_targets(plan, ends):
    """After the rounds, what brings every model to the other measure of equal work: in rounds of
    updates, the slowest model's training time (a model within one of its updates of it already
    is); in rounds of seconds, the most updates. ``ends``: label -> (updates, seconds) after the
    rounds. Returns label -> Target, or None where the model is there already."""
    if plan.kind == "updates":
        slowest = max(seconds for _, seconds in ends.values())
        return {label: Target("seconds", slowest) if slowest - seconds > seconds / updates else None
                for label, (updates, seconds) in ends.items()}
    most = max(updates for updates, _ in ends.values())
    return {label: Target("updates", most) if updates < most else None for label, (updates, _) in ends.items()}


@dataclass(frozen=True)
class RoundLog:
    """What one fairseq-train process of a round logged (its --log-format json output)."""
    tokens: float  # target tokens of the intervals counted for the throughput
    seconds: float  # and the wall-clock seconds of those intervals
    counted_intervals: int
    train_losses: list  # [num_updates, loss] of every train_inner record
    valid: list  # [num_updates, dev perplexity] of every validation
    parameters: int | None
    peak_cuda_memory_mb: float | None
    resumed_from: tuple | None  # (checkpoint path, its updates) when the process resumed


def read_round_log(text, log_interval):
    """The figures of one process's log. Throughput: each train_inner record covers
    ``log_interval`` updates, ``wpb`` target tokens an update at ``wps`` target tokens a second
    of wall time. The first record of a process is left out: fairseq restores that interval's
    clock from the checkpoint, so it also holds the previous round's closing validation (and the
    first steps' warm-up in a fresh run)."""
    inner, valid = [], []
    for line in text.splitlines():
        match = RECORD.search(line)
        if match:
            (inner if match["tag"] == "train_inner" else valid).append(json.loads(match["record"]))
    tokens = [float(r["wpb"]) * log_interval for r in inner[1:]]
    seconds = [count / float(r["wps"]) for count, r in zip(tokens, inner[1:])]
    parameters = PARAMETERS.search(text)
    peak_cuda = PEAK_CUDA.search(text)
    loaded = LOADED.search(text)
    return RoundLog(
        tokens=sum(tokens), seconds=sum(seconds), counted_intervals=len(tokens),
        train_losses=[[int(r["num_updates"]), float(r["loss"])] for r in inner],
        valid=[[int(r["valid_num_updates"]), float(r["valid_ppl"])] for r in valid],
        parameters=int(parameters[1].replace(",", "")) if parameters else None,
        peak_cuda_memory_mb=float(peak_cuda[1]) if peak_cuda else None,
        resumed_from=(loaded[1], int(loaded[2])) if loaded else None,
    )


def spread(values):
    """Median and range of per-round figures."""
    return {"median": statistics.median(values), "low": min(values), "high": max(values), "rounds": len(values)}


def ratio_summary(numerator_rates, denominator_rates):
    """The per-round ratios of two models' rates (their rounds paired: the same round, close in
    time), their median and range, in how many rounds the numerator was faster, and the verdict:
    one model is called faster only where every round agrees and that could not well be chance:
    were neither faster, all rounds would agree with probability 2^(1 - rounds) (a two-sided sign
    test), under 0.05 from 6 rounds on. With one round (the models trained one after another)
    nothing is tested."""
    if len(numerator_rates) != len(denominator_rates):
        raise ValueError(f"{len(numerator_rates)} rounds against {len(denominator_rates)}: rounds must pair")
    ratios = [numerator / denominator for numerator, denominator in zip(numerator_rates, denominator_rates)]
    summary = spread(ratios)
    summary["above_one"] = sum(ratio > 1 for ratio in ratios)
    summary["ratios"] = ratios
    rounds = len(ratios)
    chance = 2.0 ** (1 - rounds)
    if rounds == 1:
        summary["verdict"] = "one round: not tested (a drift of the machine cannot be told from the model)"
    elif summary["low"] <= 1 <= summary["high"]:
        summary["verdict"] = "not distinguishable: the range crosses 1.0"
    elif chance >= SIGN_TEST_LEVEL:
        summary["verdict"] = f"same side of 1.0 in every round, but too few rounds to tell (sign test p = {chance:.2g})"
    else:
        side = "faster" if summary["low"] > 1 else "slower"
        summary["verdict"] = f"{side} in every round (sign test p = {chance:.2g})"
    return summary


def timed_dev_points(segments):
    """Dev perplexity against training time: ``segments`` are one model's processes in order, each
    (updates, seconds) at its start and its end and its validations [[updates, ppl], ...]. A
    validation inside a process gets the time interpolated between its ends by updates (fairseq
    logs no training time with it); one at a process's end gets that end's time.
    Returns [(updates, seconds, ppl), ...]."""
    points = []
    for (start_updates, start_seconds), (end_updates, end_seconds), valid in segments:
        for updates, ppl in valid:
            share = (updates - start_updates) / (end_updates - start_updates) if end_updates > start_updates else 1.0
            points.append((updates, start_seconds + share * (end_seconds - start_seconds), ppl))
    return points
