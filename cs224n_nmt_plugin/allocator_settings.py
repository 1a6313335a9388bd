"""glibc malloc settings for CPU training and generation: keep large freed blocks.

By default glibc hands every block over 32 MiB back to the kernel when it is freed, so each
training step maps its [target tokens x vocabulary] tensors (logits, log-probabilities and
their gradients, 71 MB each in bench.py's batches) afresh and pays a page fault per 4 KiB.
With these two settings freed blocks stay in the process and are reused: on this machine the
log-softmax of such a tensor went from 24 to 13 ms, and bench.py's training steps became
about 14% faster for cs224n_lstm and 8% for fairseq lstm, at about 6% more peak memory
for either.

The pipeline (scripts/lib.sh), scripts/compare.py (both models) and scripts/bench.py run
with them; ``python -m cs224n_nmt_plugin.allocator_settings`` prints them as shell exports.
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
