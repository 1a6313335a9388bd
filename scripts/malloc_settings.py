"""glibc malloc settings for CPU training and generation: keep large freed blocks.

By default glibc returns large freed blocks to the kernel (blocks over its mmap threshold,
at most 32 MiB, are unmapped when freed), so the [target tokens x vocabulary] tensors of
every step (logits, log-probabilities and their gradients, tens of MB each) may be mapped
and faulted in afresh. These two settings keep such blocks in the process for reuse: training
steps run faster for both cs224n_lstm and fairseq lstm, at a slightly higher peak memory
(bench.py --glibc-malloc-defaults measures the difference; docs/benchmarks.md has figures).

The pipeline (scripts/lib.sh), scripts/compare.py (both models) and scripts/bench.py run
with them; ``python scripts/malloc_settings.py`` prints them as shell exports (a value the user
set already wins).
"""
import os

KEEP_FREED_BLOCKS = {
    "MALLOC_MMAP_THRESHOLD_": str(4 << 30),  # serve blocks up to 4 GiB from the heap, not fresh mappings
    "MALLOC_TRIM_THRESHOLD_": str(4 << 30),  # and do not give the heap's free top back to the kernel
}


def environment(keep_freed_blocks=True):
    """This process's environment with the settings (where not set already), or without them."""
    if keep_freed_blocks:
        return {**KEEP_FREED_BLOCKS, **os.environ}
    return {name: value for name, value in os.environ.items() if name not in KEEP_FREED_BLOCKS}


def in_effect():
    return all(name in os.environ for name in KEEP_FREED_BLOCKS)


if __name__ == "__main__":
    for name, value in KEEP_FREED_BLOCKS.items():
        print(f"export {name}=${{{name}:-{value}}}")
