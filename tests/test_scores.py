"""The paired significance tests compare.py reports (sacreBLEU's bootstrap resampling and
approximate randomization, through text/scores.py)."""
import random

from cs224n_nmt_plugin.text.scores import paired_significance

WORDS = "the a cat dog sat ran on under mat table today home we are here now she went early".split()


def corpus(seed, size=200):
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(4, 9))) for _ in range(size)]


def degraded(lines, share, seed):
    """``lines`` with every word of a ``share`` of them replaced at random."""
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in line.split()) if rng.random() < share else line for line in lines]


def test_a_much_better_system_is_significant_and_a_nearly_equal_one_is_not():
    references = corpus(0)
    baseline = degraded(references, 0.6, seed=1)
    much_better = degraded(references, 0.1, seed=2)
    nearly_equal = degraded(references, 0.6, seed=3)  # as good, with its errors elsewhere
    better = paired_significance(baseline, much_better, references)
    assert better["system_bleu"] > better["baseline_bleu"] + 10
    for test in ("bootstrap", "approximate_randomization"):
        assert better[test]["p_value"] < 0.01
    equal = paired_significance(baseline, nearly_equal, references)
    assert 0 < abs(equal["system_bleu"] - equal["baseline_bleu"]) < 5
    for test in ("bootstrap", "approximate_randomization"):
        assert equal[test]["p_value"] > 0.05
    low, high = better["bootstrap"]["system_mean"] - better["bootstrap"]["system_ci95"], \
        better["bootstrap"]["system_mean"] + better["bootstrap"]["system_ci95"]
    assert low < better["system_bleu"] < high
