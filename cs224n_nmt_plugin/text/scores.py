"""Score translations: a4 BLEU (the assignment's number) beside sacreBLEU.

    cs224n-nmt score SCORES.json LABEL HYPOTHESES REFERENCES

Adds (or replaces) the entry LABEL in SCORES.json and prints every entry as a table.
a4 BLEU tokenizes with line.strip().split(' ') (A4_SPEC.md); sacreBLEU applies its own
13a tokenization to the same a4-format text, so it is higher: report both, never one for
the other.
"""
import json
from pathlib import Path

from cs224n_nmt_plugin.errors import InputError
from cs224n_nmt_plugin.text.bleu import a4_corpus_bleu
from cs224n_nmt_plugin.text.files import read_lines, write_lines


def score_lines(hypotheses, references, path):
    if len(hypotheses) != len(references):
        raise InputError(path, f"has {len(hypotheses)} lines but the references have {len(references)}")
    import sacrebleu

    return {
        "sentences": len(hypotheses),
        "a4_bleu": round(a4_corpus_bleu(hypotheses, references), 2),
        "sacrebleu": round(sacrebleu.corpus_bleu(hypotheses, [references]).score, 2),
    }


def table(scores):
    rows = [f"{'set':<28} {'sentences':>9} {'a4 BLEU':>8} {'sacreBLEU':>9}"]
    for label, entry in scores.items():
        rows.append(f"{label:<28} {entry['sentences']:>9} {entry['a4_bleu']:>8.2f} {entry['sacrebleu']:>9.2f}")
    return "\n".join(rows)


def add_arguments(parser):
    parser.add_argument("scores_json", type=Path, help="the file of scores to add to (created if missing)")
    parser.add_argument("label", help="the name of this entry")
    parser.add_argument("hypotheses", type=Path, help="translations, a4 text, one a line")
    parser.add_argument("references", type=Path, help="references, a4 text, one a line")


def run(args):
    entry = score_lines(read_lines(args.hypotheses), read_lines(args.references), args.hypotheses)
    scores = json.loads(args.scores_json.read_text()) if args.scores_json.is_file() else {}
    scores[args.label] = {**entry, "hypotheses": str(args.hypotheses), "references": str(args.references)}
    write_lines(args.scores_json, json.dumps(scores, indent=2).splitlines())
    print(table(scores))


def paired_significance(baseline, system, references, samples=1000, trials=10000):
    """Whether ``system``'s sacreBLEU differs from ``baseline``'s on these test sentences by more
    than chance, with sacreBLEU's own paired tests (its fixed seed, SACREBLEU_SEED, makes them
    repeatable): paired bootstrap resampling (``samples`` resamples) and approximate
    randomization (``trials`` trials). Returns each test's p-value and the system's mean and 95%
    confidence interval of BLEU, beside both systems' BLEU."""
    from sacrebleu.metrics import BLEU
    from sacrebleu.significance import PairedTest

    named = [("baseline", baseline), ("system", system)]
    result = {}
    tests = {"bootstrap": ("bs", {"n_samples": samples}),
             "approximate_randomization": ("ar", {"n_samples": trials, "n_ar_confidence": samples})}
    for test, (test_type, options) in tests.items():
        _, scores = PairedTest(named, {"BLEU": BLEU()}, [references], test_type=test_type, **options)()
        base, other = scores["BLEU"]
        result[test] = {"p_value": float(other.p_value), "system_mean": float(other.mean),
                        "system_ci95": float(other.ci)}
        result["baseline_bleu"], result["system_bleu"] = float(base.score), float(other.score)
    return result
