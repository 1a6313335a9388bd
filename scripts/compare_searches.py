"""The homework's beam search against fairseq's, on one trained run of the pipeline: the test
split decoded by each (the pipeline's options for each, settings.decoding_options), its a4 BLEU and
sacreBLEU, how many sentences the two translate differently, and the decoding speed, the two
searches alternating over several repeats (medians and ranges of fairseq-generate's sentences/s).

    .venv/bin/python scripts/compare_searches.py NAME [--repeats 3]

NAME is a corpus the pipeline trained (data-bin/NAME, outputs/NAME/checkpoints/checkpoint_best.pt).
Writes outputs/NAME/searches/: each search's fairseq-generate output and test_outputs.txt, and
comparison.md with the table it prints.
"""
import argparse
import statistics
import sys

import torch

from cs224n_nmt_plugin.settings import SEARCHES, checkpoint_dir, data_bin_dir, decoding_summary
from cs224n_nmt_plugin.settings import run_dir as outputs_dir
from cs224n_nmt_plugin.text.files import read_lines, write_lines
from cs224n_nmt_plugin.text.scores import score_lines
from decode_test_split import DecodingFailed, decode_test_split


def decode_alternating(data_bin, checkpoint, out, repeats, cpu):
    """{search: [Decoded, one per repeat]}, the searches' order rotating between repeats."""
    runs = {search: [] for search in SEARCHES}
    for repeat in range(repeats):
        for search in SEARCHES[repeat % 2:] + SEARCHES[:repeat % 2]:
            print(f"[compare-searches] repeat {repeat + 1}/{repeats}: {search}", flush=True)
            runs[search].append(decode_test_split(data_bin, checkpoint, search, out / search, cpu))
            if runs[search][-1].hypotheses != runs[search][0].hypotheses:
                sys.exit(f"[compare-searches] error: the {search} search translated differently when run again")
    return runs


def table(runs, references, out):
    first = {search: decoded[0].hypotheses for search, decoded in runs.items()}
    rows = ["| search | a4 BLEU | sacreBLEU | empty translations | sentences/s, median (range) |",
            "|---|---:|---:|---:|---:|"]
    speeds = {}
    for search, decoded in runs.items():
        scores = score_lines(first[search], references, out / search / "test_outputs.txt")
        speed = sorted(run.sentences_per_s for run in decoded)
        speeds[search] = statistics.median(speed)
        rows.append(f"| {decoding_summary(search)} | {scores['a4_bleu']:.2f} | {scores['sacrebleu']:.2f} | "
                    f"{sum(not line.strip() for line in first[search])} | "
                    f"{speeds[search]:.1f} ({speed[0]:.1f}-{speed[-1]:.1f}) |")
    differing = sum(a != b for a, b in zip(first["homework"], first["fairseq"]))
    return "\n".join(rows + [
        "",
        f"{differing} of {len(references)} test sentences translated differently; the homework's search "
        f"decoded {speeds['homework'] / speeds['fairseq']:.2f}x fairseq's sentences/s "
        f"({len(runs['homework'])} alternating runs each, {torch.get_num_threads()} threads).",
    ]) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("name", help="a corpus the pipeline trained (data-bin/NAME, outputs/NAME)")
    parser.add_argument("--repeats", type=int, default=3, help="decodes per search, alternating (default 3)")
    parser.add_argument("--cpu", action="store_true", help="decode on the CPU even where there is a GPU")
    args = parser.parse_args()
    try:
        data_bin, run_dir, checkpoint = data_bin_dir(args.name), outputs_dir(args.name), checkpoint_dir(args.name)
    except ValueError as error:
        sys.exit(f"[compare-searches] error: {error}")
    checkpoint = checkpoint / "checkpoint_best.pt"
    if not checkpoint.is_file() or not (data_bin / "text" / "ref.test.en").is_file():
        sys.exit(f"[compare-searches] error: {checkpoint}: no trained run of {args.name} (run bash scripts/run.sh)")
    if args.repeats < 1:
        sys.exit("[compare-searches] error: --repeats must be at least 1")
    out = run_dir / "searches"
    try:
        runs = decode_alternating(data_bin, checkpoint, out, args.repeats, args.cpu or not torch.cuda.is_available())
    except DecodingFailed as error:
        sys.exit(f"[compare-searches] error: {error}")
    result = table(runs, read_lines(data_bin / "text" / "ref.test.en"), out)
    write_lines(out / "comparison.md", result.splitlines())
    print(result)
    print(f"[compare-searches] wrote {out / 'comparison.md'}")


if __name__ == "__main__":
    main()
