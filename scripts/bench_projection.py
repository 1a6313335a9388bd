"""Eq (13)'s product, o_t W_vocab^T, timed each way VocabProjection can compute it on this CPU.

    .venv/bin/python scripts/bench_projection.py [--repeats 200]

For each size (hidden h, vocabulary V) and number of rows N (a CPU training batch's target
words; a decoding step of a batch of beams, of a greedy batch, of one sentence's beam), the
forward product in float32 three ways, alternating, median milliseconds:

  linear      torch's F.linear (MKL's sgemm behind nn.Linear), the product everywhere else;
  onednn      oneDNN's inner product over rows padded as VocabProjection pads them;
  transposed  torch.mm with a contiguous copy of W_vocab^T (generation where oneDNN is absent).

It prints a markdown table and the ratios to ``linear`` (above 1: faster than torch's product).
"""
import argparse
import functools
import platform
import statistics
import time

import torch
import torch.nn.functional as F

from cs224n_nmt_plugin.models.vocab_projection import (
    GENERATION_ROWS,
    TRAINING_ROWS,
    onednn_linear,
    onednn_product_available,
    pad_rows,
)

SIZES = [(128, 15098), (256, 50002)]  # the CPU recipe on Tatoeba; the homework's sizes on a4
# (N, padding multiple): a CPU training batch's target words; a decoding step of a batch of 64
# sentences with beam 5, of a greedy batch of 64, and of one sentence's beam of 5
ROWS = [(448, TRAINING_ROWS), (320, GENERATION_ROWS), (64, GENERATION_ROWS), (5, GENERATION_ROWS)]


def cpu_model():
    for line in open("/proc/cpuinfo", encoding="utf-8"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown CPU"


def padded_onednn(rows, weight, multiple):
    """oneDNN's product as VocabProjection computes it: over rows padded to ``multiple``."""
    return onednn_linear(pad_rows(rows, multiple), weight)[: len(rows)]


def median_ms(products, repeats):
    """{name: median ms} of each product, the products alternating call by call."""
    times = {name: [] for name in products}
    for product in products.values():
        product()  # oneDNN builds its kernel for a new shape on the first call
    for _ in range(repeats):
        for name, product in products.items():
            start = time.perf_counter()
            product()
            times[name].append((time.perf_counter() - start) * 1e3)
    return {name: statistics.median(values) for name, values in times.items()}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=200, help="timed calls per product (default 200)")
    args = parser.parse_args()
    torch.manual_seed(0)
    print(f"{cpu_model()}, torch {torch.__version__}, {torch.get_num_threads()} threads; "
          f"oneDNN inner product: {'yes' if onednn_product_available() else 'no'}\n")
    print("| h | V | rows N | linear ms | onednn ms | transposed ms | onednn / linear | transposed / linear |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    with torch.no_grad():
        for hidden, vocabulary in SIZES:
            weight = torch.randn(vocabulary, hidden) * 0.1
            weight_transposed = weight.t().contiguous()
            for count, multiple in ROWS:
                rows = torch.randn(count, hidden)
                products = {"linear": functools.partial(F.linear, rows, weight),
                            "transposed": functools.partial(torch.mm, rows, weight_transposed)}
                if onednn_product_available():
                    products["onednn"] = functools.partial(padded_onednn, rows, weight, multiple)
                ms = median_ms(products, args.repeats)
                onednn = ms.get("onednn")
                onednn_cells = (f"{onednn:.3f}", f"{ms['linear'] / onednn:.2f}") if onednn else ("", "")
                print(f"| {hidden} | {vocabulary} | {count} | {ms['linear']:.3f} | {onednn_cells[0]} | "
                      f"{ms['transposed']:.3f} | {onednn_cells[1]} | {ms['linear'] / ms['transposed']:.2f} |")


if __name__ == "__main__":
    main()
