"""BLEU as CS224n assignment 4 (Spanish -> English) defines and computes it.

Two scores live here, both written from their definitions:

* ``a4_corpus_bleu`` -- the number the assignment reports ("a4 BLEU"): the starter code's
  ``run.py`` calls ``nltk.translate.bleu_score.corpus_bleu([[ref] for ref in references],
  hypotheses) * 100`` with one reference per sentence, uniform 4-gram weights and no smoothing,
  on sentences tokenized by ``line.strip().split(' ')``.  Splitting on a single space keeps
  the '' tokens that double spaces produce, and <unk> stays in place (it never matches).
* ``sentence_bleu`` -- the sentence BLEU of the handout's written question 2 (several references,
  modified n-gram precisions p_n, brevity penalty BP, BLEU = BP * exp(sum_n lambda_n log p_n)).

Command line (file lines are read as UTF-8 and tokenized like a4; sentence indices are 1-based)::

    cs224n-nmt bleu HYP_FILE REF_FILE [REF_FILE ...] [--weights W1 W2 ...]
    cs224n-nmt bleu HYP_FILE REF_FILE --corpus

Pure Python: no nltk, no fairseq.
"""
from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import reduce
from operator import or_

from cs224n_nmt_plugin.errors import InputError, UsageError
from cs224n_nmt_plugin.text.files import read_lines

# a4 scores with nltk's default weights: uniform over 1- to 4-grams.
A4_WEIGHTS = (0.25, 0.25, 0.25, 0.25)


def tokenize(line: str) -> list[str]:
    """a4's tokenization: ``line.strip().split(' ')``.

    Double spaces give '' tokens, which count as tokens, and an empty line gives [''].
    """
    return line.strip().split(" ")


def _ngram_counts(tokens: Sequence[str], n: int) -> Counter:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def _clipped_matches(
    candidate: Sequence[str], references: Sequence[Sequence[str]], n: int
) -> tuple[int, int]:
    """(clipped matches, candidate n-gram count) for order n.

    Handout: each candidate n-gram counts at most as often as it occurs in the reference
    that has it most often ("modified" precision), so repeating a right word gains nothing.
    """
    candidate_counts = _ngram_counts(candidate, n)
    # Counter | keeps the larger count, & the smaller: max over references, then the clip.
    max_ref_counts = reduce(or_, (_ngram_counts(ref, n) for ref in references))
    clipped = candidate_counts & max_ref_counts
    return sum(clipped.values()), sum(candidate_counts.values())


def _brevity_penalty(hyp_len: int, ref_len: int) -> float:
    """Handout: BP = 1 if len(c) >= len(r) else exp(1 - len(r)/len(c))."""
    if hyp_len >= ref_len:
        return 1.0
    if hyp_len == 0:
        return 0.0  # exp(1 - len(r)/len(c)) tends to 0 as len(c) -> 0
    return math.exp(1 - ref_len / hyp_len)


def _weighted_geometric_mean(precisions: Sequence[float], weights: Sequence[float]) -> float:
    """exp(sum_n lambda_n log p_n), skipping orders with lambda_n == 0.

    A p_n of 0 under a positive lambda_n makes the sum -infinity, so the mean is 0.
    """
    terms = [(w, p) for w, p in zip(weights, precisions) if w > 0]
    if any(p == 0 for _, p in terms):
        return 0.0
    return math.exp(math.fsum(w * math.log(p) for w, p in terms))


def _check_weights(weights: Sequence[float]) -> None:
    if not weights or any(w < 0 for w in weights) or not any(w > 0 for w in weights):
        raise ValueError(f"weights must be non-negative with at least one positive, got {weights!r}")


@dataclass(frozen=True)
class SentenceBleu:
    bleu: float  # on the 0-1 scale
    precisions: tuple[float, ...]  # p_1 .. p_N
    brevity_penalty: float
    hyp_len: int  # len(c)
    ref_len: int  # len(r): the reference length closest to len(c), ties to the shorter


def sentence_bleu(
    candidate_tokens: Sequence[str],
    list_of_reference_tokens: Sequence[Sequence[str]],
    weights: Sequence[float] = A4_WEIGHTS,
) -> SentenceBleu:
    """The handout's sentence BLEU of one tokenized candidate against one or more references.

    N = len(weights) and weights[n - 1] is lambda_n.  p_n is the modified n-gram precision;
    a candidate with no n-grams of order n (shorter than n) has p_n = 0.  An empty candidate
    therefore scores BLEU 0 (and BP 0 against a non-empty reference).
    """
    if not list_of_reference_tokens:
        raise ValueError("sentence_bleu needs at least one reference")
    _check_weights(weights)
    precisions = []
    for n in range(1, len(weights) + 1):
        matches, total = _clipped_matches(candidate_tokens, list_of_reference_tokens, n)
        precisions.append(matches / total if total else 0.0)
    hyp_len = len(candidate_tokens)
    # Handout: len(r) is the reference length closest to len(c); a tie goes to the shorter.
    ref_len = min((len(ref) for ref in list_of_reference_tokens), key=lambda r: (abs(r - hyp_len), r))
    bp = _brevity_penalty(hyp_len, ref_len)
    return SentenceBleu(
        bleu=bp * _weighted_geometric_mean(precisions, weights),
        precisions=tuple(precisions),
        brevity_penalty=bp,
        hyp_len=hyp_len,
        ref_len=ref_len,
    )


def a4_corpus_bleu(hypothesis_lines: Iterable[str], reference_lines: Iterable[str]) -> float:
    """a4 BLEU on the 0-100 scale: nltk ``corpus_bleu`` * 100 as the starter code calls it.

    Corpus level, not a mean of sentence scores: the clipped matches and n-gram counts of each
    order are summed over all sentences before dividing, and BP compares the summed reference
    length with the summed hypothesis length.  Like nltk, a sentence with no n-grams of some
    order counts as 0 matches out of 1 for that order (not 0 out of 0).  When some order has no
    match at all the score is 0.0; nltk then returns 0 or, when unigrams do match, a value
    below 1e-75 (it puts the smallest float in place of the zero precision).

    Raises ValueError when the line counts differ or there are no lines (nltk 3.10 raises
    ZeroDivisionError on an empty corpus).
    """
    hypotheses = [tokenize(line) for line in hypothesis_lines]
    references = [tokenize(line) for line in reference_lines]
    if len(hypotheses) != len(references):
        raise ValueError(
            f"{len(hypotheses)} hypothesis lines but {len(references)} reference lines"
        )
    if not hypotheses:
        raise ValueError("no hypothesis lines: BLEU of an empty corpus is undefined")
    orders = range(1, len(A4_WEIGHTS) + 1)
    matches = dict.fromkeys(orders, 0)
    totals = dict.fromkeys(orders, 0)
    hyp_len = ref_len = 0
    for hypothesis, reference in zip(hypotheses, references):
        for n in orders:
            sentence_matches, sentence_total = _clipped_matches(hypothesis, [reference], n)
            matches[n] += sentence_matches
            totals[n] += max(sentence_total, 1)
        hyp_len += len(hypothesis)
        ref_len += len(reference)  # one reference, so it is the closest
    precisions = [matches[n] / totals[n] for n in orders]
    return _brevity_penalty(hyp_len, ref_len) * _weighted_geometric_mean(precisions, A4_WEIGHTS) * 100


def add_arguments(parser) -> None:
    parser.add_argument("hyp_file")
    parser.add_argument("ref_files", nargs="+", metavar="ref_file")
    parser.add_argument("--weights", type=float, nargs="+", help="lambda_1 .. lambda_N (default: 0.25 x 4)")
    parser.add_argument("--corpus", action="store_true", help="a4 corpus BLEU; exactly one ref_file")


def run(args) -> None:
    """Sentence BLEU of each hypothesis line and their mean, or with --corpus the a4 corpus BLEU."""
    if args.corpus and len(args.ref_files) != 1:
        raise UsageError("--corpus takes exactly one ref_file")
    if args.corpus and args.weights is not None:
        raise UsageError("--corpus always uses the a4 weights; drop --weights")
    weights = A4_WEIGHTS if args.weights is None else tuple(args.weights)
    try:
        _check_weights(weights)
    except ValueError as error:
        raise UsageError(str(error)) from None

    hyp_lines = read_lines(args.hyp_file)
    ref_lines = [read_lines(path) for path in args.ref_files]
    for path, lines in zip(args.ref_files, ref_lines):
        if len(lines) != len(hyp_lines):
            raise InputError(path, f"has {len(lines)} lines but {args.hyp_file} has {len(hyp_lines)}")
    if not hyp_lines:
        raise InputError(args.hyp_file, "no lines to score")

    if args.corpus:
        print(f"a4 corpus BLEU = {a4_corpus_bleu(hyp_lines, ref_lines[0]):.4f}")
        return
    scores = []
    for index, (hyp, *refs) in enumerate(zip(hyp_lines, *ref_lines), start=1):
        result = sentence_bleu(tokenize(hyp), [tokenize(ref) for ref in refs], weights)
        scores.append(result.bleu)
        precisions = " ".join(f"{p:.4f}" for p in result.precisions)
        print(f"{index}\tbleu={result.bleu:.4f}\tprecisions={precisions}\tbp={result.brevity_penalty:.4f}")
    print(f"mean\tbleu={math.fsum(scores) / len(scores):.4f}")
