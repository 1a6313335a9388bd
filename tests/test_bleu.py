"""Tests for cs224n_nmt_plugin.bleu: a4 corpus BLEU against nltk (the scorer the assignment uses),
hand-computed values, the handout's sentence BLEU worked example, and the command line."""
import math
import random
import warnings

import pytest

from conftest import A4_DATA, SHARED, run_cli, write_lines
from cs224n_nmt_plugin.cli import main
from cs224n_nmt_plugin.text.bleu import SentenceBleu, a4_corpus_bleu, sentence_bleu

A4_TEST_OUTPUTS = A4_DATA / "reference" / "test_outputs_a4.txt"
A4_TEST_REFERENCES = A4_DATA / "test.en"


def nltk_a4_bleu(hypothesis_lines, reference_lines):
    """What the a4 starter code reports: nltk corpus_bleu * 100, tokenized by strip().split(' ')."""
    bleu_score = pytest.importorskip("nltk.translate.bleu_score")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nltk warns on every order with zero matches
        return 100 * bleu_score.corpus_bleu(
            [[ref.strip().split(" ")] for ref in reference_lines],
            [hyp.strip().split(" ") for hyp in hypothesis_lines],
        )


def assert_matches_nltk(hypothesis_lines, reference_lines):
    expected = nltk_a4_bleu(hypothesis_lines, reference_lines)
    actual = a4_corpus_bleu(hypothesis_lines, reference_lines)
    if expected < 1e-70:
        # An order without matches: nltk gives 0, or with unigram matches the smallest float's
        # 4th root times the rest (< 1e-75); we give exactly 0 (documented in a4_corpus_bleu).
        assert actual == 0.0
    else:
        assert actual == pytest.approx(expected, rel=1e-12)
    return actual


# ---------------------------------------------------------------- a4 corpus BLEU

@pytest.mark.skipif(
    not (A4_TEST_OUTPUTS.is_file() and A4_TEST_REFERENCES.is_file()),
    reason=f"shared a4 data not found under {SHARED}",
)
def test_a4_bleu_of_course_test_outputs_matches_nltk():
    hyps = A4_TEST_OUTPUTS.read_text(encoding="utf-8").splitlines()
    refs = A4_TEST_REFERENCES.read_text(encoding="utf-8").splitlines()
    assert len(hyps) == len(refs) == 8064
    score = assert_matches_nltk(hyps, refs)
    assert 22.0 < score < 22.5  # the course model's a4 BLEU on test (about 22.26)


def test_hand_computed_corpus():
    # hyp 1 "the cat sat on the mat" vs ref "the cat sat on a mat" (6 tokens each):
    #   1-grams: the x2 clipped to 1, cat, sat, on, mat -> 5/6
    #   2-grams: the cat, cat sat, sat on match; on the, the mat do not -> 3/5
    #   3-grams: the cat sat, cat sat on match; sat on the, on the mat do not -> 2/4
    #   4-grams: the cat sat on matches; cat sat on the, sat on the mat do not -> 1/3
    # hyp 2 "a dog" vs ref "a dog barked": 1-grams 2/2, 2-grams 1/1, and no 3- or 4-grams,
    #   which nltk counts as 0/1 each.
    # Corpus sums: p1 = 7/8, p2 = 4/6, p3 = 2/5, p4 = 1/4, product 56/960 = 7/120.
    # Lengths: hyp 6 + 2 = 8, ref 6 + 3 = 9 -> BP = exp(1 - 9/8) = exp(-1/8).
    # BLEU = 100 * exp(-1/8) * (7/120)^(1/4) = 43.3703
    hyps = ["the cat sat on the mat", "a dog"]
    refs = ["the cat sat on a mat", "a dog barked"]
    expected = 100 * math.exp(-1 / 8) * (7 / 120) ** 0.25
    assert a4_corpus_bleu(hyps, refs) == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx(43.3703, abs=1e-4)


SMALL_CORPORA = {
    # '' tokens from double spaces count (hyp has 4 tokens: a '' b c); surrounding whitespace goes.
    "empty_tokens": (["a  b c", " x  y  z \n"], ["a  b c d", "x  y  z"]),
    "empty_lines": (["", "a b c d"], ["", "a b c d e"]),
    "unk_never_special": (["the <unk> is here today", "<unk> <unk>"], ["the cat is here today", "<unk> <unk>"]),
    "clipping": (["the the the the the the", "a b c d e"], ["the cat on the mat", "a b c d e"]),
    "zero_4gram_matches": (["a x c y"], ["a b c d"]),
    "zero_unigram_matches": (["p q r s"], ["a b c d"]),
    "brevity": (["a b c d", "e f g h"], ["a b c d e f g", "e f g h i j k l"]),
    "longer_than_reference": (["a b c d e f g h", "i j k l m"], ["a b c d", "i j k l"]),
    "sentences_shorter_than_4": (["a b", "c", "d e f g h"], ["a b c", "c d", "d e f g h"]),
    "hand_computed": (["the cat sat on the mat", "a dog"], ["the cat sat on a mat", "a dog barked"]),
}


@pytest.mark.parametrize("name", SMALL_CORPORA)
def test_small_corpora_match_nltk(name):
    assert_matches_nltk(*SMALL_CORPORA[name])


@pytest.mark.parametrize("seed", range(20))
def test_random_corpora_match_nltk(seed):
    rng = random.Random(seed)
    vocab = ["a", "b", "c", "d", "", "<unk>"]  # "" joins as a double space
    hyps, refs = [], []
    for _ in range(rng.randint(1, 12)):
        ref = [rng.choice(vocab) for _ in range(rng.randint(1, 12))]
        hyp = [tok if rng.random() < 0.8 else rng.choice(vocab) for tok in ref]
        hyp = hyp[: rng.randint(1, len(hyp))] + [rng.choice(vocab) for _ in range(rng.randint(0, 3))]
        hyps.append(" ".join(hyp) + rng.choice(["", "\n", " \n"]))
        refs.append(" ".join(ref))
    assert_matches_nltk(hyps, refs)


def test_unequal_line_counts_raise():
    with pytest.raises(ValueError, match="2 hypothesis lines but 1 reference lines"):
        a4_corpus_bleu(["a b", "c d"], ["a b"])


def test_empty_corpus_raises():
    # nltk 3.10 raises ZeroDivisionError here; we raise a clear ValueError instead.
    with pytest.raises(ValueError, match="empty corpus"):
        a4_corpus_bleu([], [])


# ---------------------------------------------------------------- sentence BLEU

# CS224n 2019 a4, written question 2 (source "el amor todo lo puede"), lambda = (0.5, 0.5, 0, 0).
REF_1 = "love can always find a way".split()  # 6 words
REF_2 = "love makes anything possible".split()  # 4 words
CANDIDATE_1 = "the love can always do".split()  # 5 words
CANDIDATE_2 = "love can make anything possible".split()  # 5 words
HANDOUT_WEIGHTS = (0.5, 0.5, 0, 0)


def test_handout_example_with_both_references():
    # c1: 1-grams love, can, always match (the, do do not) -> p1 = 3/5;
    #     2-grams "love can", "can always" match ("the love", "always do" do not) -> p2 = 2/4.
    # c2: 1-grams love, can (r1), anything, possible (r2) match, make does not -> p1 = 4/5;
    #     2-grams "love can" (r1), "anything possible" (r2) match -> p2 = 2/4.
    # Reported but not used (lambda_3 = lambda_4 = 0): c1 has 3-gram "love can always" of 3 -> 1/3
    # and none of its two 4-grams; c2 has none of its three 3-grams or two 4-grams.  The zero
    # precisions under zero weights do not zero the score.
    # len(c) = 5 is 1 from both 6 and 4; the tie goes to the shorter, len(r) = 4 <= 5 -> BP = 1.
    # BLEU(c1) = exp(0.5 log 3/5 + 0.5 log 2/4) = sqrt(0.3) = 0.5477
    # BLEU(c2) = sqrt(4/5 * 2/4) = sqrt(0.4) = 0.6325  -> c2 scores higher.
    c1 = sentence_bleu(CANDIDATE_1, [REF_1, REF_2], HANDOUT_WEIGHTS)
    c2 = sentence_bleu(CANDIDATE_2, [REF_1, REF_2], HANDOUT_WEIGHTS)
    assert c1.precisions == (3 / 5, 2 / 4, 1 / 3, 0.0)
    assert c2.precisions == (4 / 5, 2 / 4, 0.0, 0.0)
    for result in (c1, c2):
        assert (result.hyp_len, result.ref_len, result.brevity_penalty) == (5, 4, 1.0)
    assert c1.bleu == pytest.approx(math.sqrt(0.3), rel=1e-12)
    assert c2.bleu == pytest.approx(math.sqrt(0.4), rel=1e-12)
    assert (round(c1.bleu, 4), round(c2.bleu, 4)) == (0.5477, 0.6325)


def test_handout_example_with_reference_1_only():
    # c1: as above, p1 = 3/5, p2 = 2/4, p3 = 1/3, p4 = 0 (all its matches were in r1).
    # c2: 1-grams love, can match (make, anything, possible are not in r1) -> p1 = 2/5;
    #     2-grams only "love can" -> p2 = 1/4; p3 = p4 = 0 as above.
    # len(r) = 6 > len(c) = 5 -> BP = exp(1 - 6/5) = exp(-0.2) = 0.8187.
    # BLEU(c1) = exp(-0.2) * sqrt(3/5 * 2/4) = 0.4484
    # BLEU(c2) = exp(-0.2) * sqrt(2/5 * 1/4) = 0.2589  -> now c1 scores higher.
    bp = math.exp(1 - 6 / 5)
    c1 = sentence_bleu(CANDIDATE_1, [REF_1], HANDOUT_WEIGHTS)
    c2 = sentence_bleu(CANDIDATE_2, [REF_1], HANDOUT_WEIGHTS)
    assert c1.precisions == (3 / 5, 2 / 4, 1 / 3, 0.0)
    assert c2.precisions == (2 / 5, 1 / 4, 0.0, 0.0)
    for result in (c1, c2):
        assert (result.hyp_len, result.ref_len) == (5, 6)
        assert result.brevity_penalty == pytest.approx(bp, rel=1e-15)
    assert c1.bleu == pytest.approx(bp * math.sqrt(0.3), rel=1e-12)
    assert c2.bleu == pytest.approx(bp * math.sqrt(0.1), rel=1e-12)
    assert (round(c1.bleu, 4), round(c2.bleu, 4)) == (0.4484, 0.2589)


def test_sentence_bleu_clips_by_the_max_count_over_references():
    # "the" x4 in the candidate; r1 has it twice, r2 once -> clipped to 2: p1 = 2/4.
    result = sentence_bleu(["the"] * 4, [["the", "cat", "the", "hat"], ["the", "dog"]], (1,))
    assert result.precisions == (2 / 4,)
    # len(c) = 4 ties with r1 exactly -> len(r) = 4, BP = 1.
    assert (result.ref_len, result.brevity_penalty, result.bleu) == (4, 1.0, 0.5)


def test_sentence_bleu_zero_precision_under_positive_weight_gives_zero():
    result = sentence_bleu(["a", "x", "c"], [["a", "b", "c"]])
    assert result.precisions == (2 / 3, 0.0, 0.0, 0.0)  # no 3-gram matches, no 4-grams at all
    assert result.bleu == 0.0


@pytest.mark.parametrize("seed", range(10))
def test_sentence_bleu_matches_nltk_with_several_references(seed):
    # nltk's sentence_bleu has the same definition (max-count clipping over references, closest
    # reference length with ties to the shorter); it differs only in returning < 1e-70 for 0.
    bleu_score = pytest.importorskip("nltk.translate.bleu_score")
    rng = random.Random(seed)
    vocab = ["a", "b", "c", "d", "e"]
    for _ in range(20):
        references = [[rng.choice(vocab) for _ in range(rng.randint(1, 10))] for _ in range(rng.randint(1, 3))]
        candidate = [rng.choice(vocab) for _ in range(rng.randint(1, 10))]
        weights = rng.choice([(0.25, 0.25, 0.25, 0.25), (0.5, 0.5, 0, 0), (0.2, 0.3, 0.5), (1,)])
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            expected = bleu_score.sentence_bleu(references, candidate, weights)
        actual = sentence_bleu(candidate, references, weights).bleu
        if expected < 1e-70:
            assert actual == 0.0
        else:
            assert actual == pytest.approx(expected, rel=1e-12)


def test_sentence_bleu_empty_candidate():
    result = sentence_bleu([], [["a", "b"]])
    assert result == SentenceBleu(bleu=0.0, precisions=(0.0,) * 4, brevity_penalty=0.0, hyp_len=0, ref_len=2)


@pytest.mark.parametrize("weights", [(), (0, 0), (0.5, -0.5)])
def test_sentence_bleu_rejects_bad_weights(weights):
    with pytest.raises(ValueError, match="weights"):
        sentence_bleu(["a"], [["a"]], weights)


def test_sentence_bleu_needs_a_reference():
    with pytest.raises(ValueError, match="at least one reference"):
        sentence_bleu(["a"], [])


# ---------------------------------------------------------------- command line

def stderr_lines(completed):
    return completed.stderr.splitlines()


def test_cli_sentence_bleu_with_two_reference_files(tmp_path):
    hyp = write_lines(tmp_path / "hyp.txt", [" ".join(CANDIDATE_1), " ".join(CANDIDATE_2)])
    ref1 = write_lines(tmp_path / "ref1.txt", [" ".join(REF_1)] * 2)
    ref2 = write_lines(tmp_path / "ref2.txt", [" ".join(REF_2)] * 2)
    completed = run_cli("bleu", hyp, ref1, ref2, "--weights", "0.5", "0.5")
    assert completed.returncode == 0, completed.stderr
    # See test_handout_example_with_both_references; mean = (0.5477 + 0.6325) / 2.
    assert completed.stdout.splitlines() == [
        "1\tbleu=0.5477\tprecisions=0.6000 0.5000\tbp=1.0000",
        "2\tbleu=0.6325\tprecisions=0.8000 0.5000\tbp=1.0000",
        "mean\tbleu=0.5901",
    ]


def test_cli_corpus_bleu(tmp_path):
    # The corpus of test_hand_computed_corpus.
    hyp = write_lines(tmp_path / "hyp.txt", ["the cat sat on the mat", "a dog"])
    ref = write_lines(tmp_path / "ref.txt", ["the cat sat on a mat", "a dog barked"])
    completed = run_cli("bleu", hyp, ref, "--corpus")
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == "a4 corpus BLEU = 43.3703\n"


def test_cli_unequal_line_counts(tmp_path):
    hyp = write_lines(tmp_path / "hyp.txt", ["a b", "c d"])
    ref = write_lines(tmp_path / "ref.txt", ["a b"])
    completed = run_cli("bleu", hyp, ref)
    assert completed.returncode == 1
    assert completed.stdout == ""
    assert stderr_lines(completed) == [f"error: {ref}: has 1 lines but {hyp} has 2"]


def test_cli_missing_file(tmp_path):
    hyp = write_lines(tmp_path / "hyp.txt", ["a b"])
    missing = tmp_path / "nope.txt"
    completed = run_cli("bleu", hyp, missing, "--corpus")
    assert completed.returncode == 1
    assert stderr_lines(completed) == [f"error: {missing}: missing or not a file"]


def test_cli_undecodable_file(tmp_path, capsys):
    # In-process: the subprocess tests above already cover the -m entry point.
    hyp = tmp_path / "hyp.txt"
    hyp.write_bytes(b"caf\xe9\n")  # Latin-1, not UTF-8
    ref = write_lines(tmp_path / "ref.txt", ["cafe"])
    assert main(["bleu", str(hyp), str(ref)]) == 1
    captured = capsys.readouterr()
    assert captured.err == f"error: {hyp}: line 1 is not UTF-8 (byte 0xe9 at offset 3)\n"
