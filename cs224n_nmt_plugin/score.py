"""Score translations: a4 BLEU (the assignment's number) beside sacreBLEU.

    python -m cs224n_nmt_plugin.score SCORES.json LABEL HYPOTHESES REFERENCES

Adds (or replaces) the entry LABEL in SCORES.json and prints every entry as a table.
a4 BLEU tokenizes with line.strip().split(' ') (A4_SPEC.md); sacreBLEU applies its own
13a tokenization to the same a4-format text, so it is higher: report both, never one for
the other.
"""
import argparse
import json
import sys
from pathlib import Path

from cs224n_nmt_plugin.bleu import a4_corpus_bleu
from cs224n_nmt_plugin.atomic_files import write_lines
from cs224n_nmt_plugin.translation_io import TranslationIOError, read_text_lines


def score_lines(hypotheses, references, path):
    if len(hypotheses) != len(references):
        raise TranslationIOError(path, f"has {len(hypotheses)} lines but the references have {len(references)}")
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


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m cs224n_nmt_plugin.score", description=__doc__.split("\n\n")[0])
    parser.add_argument("scores_json", type=Path)
    parser.add_argument("label")
    parser.add_argument("hypotheses", type=Path)
    parser.add_argument("references", type=Path)
    args = parser.parse_args(argv)
    try:
        entry = score_lines(read_text_lines(args.hypotheses), read_text_lines(args.references), args.hypotheses)
    except TranslationIOError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    scores = json.loads(args.scores_json.read_text()) if args.scores_json.is_file() else {}
    scores[args.label] = {**entry, "hypotheses": str(args.hypotheses), "references": str(args.references)}
    write_lines(args.scores_json, json.dumps(scores, indent=2).splitlines())
    print(table(scores))
    return 0


if __name__ == "__main__":
    sys.exit(main())
