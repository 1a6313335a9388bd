"""``--cpu-autocast``: mixed precision on a CPU, as fairseq's --amp is on a GPU.

fairseq's --amp is CUDA-only and its --bf16 crashes on a CPU. With ``--cpu-autocast bf16`` the
decoder's output layer, eq (13)'s W_vocab o_t, runs under torch's CPU autocast in bfloat16 in
training: the [target words x vocabulary] product and its two gradient products, the largest of
a training step. Validation and generation (the model in eval mode) compute it in float32, so
the dev loss is float32's and the translations are those of a float32 output layer. Everything
else stays float32: the weights, the LSTMs and attention, the recurrent states, the softmax and
the loss (computed on float32 logits), the gradients and the optimizer. Only that product,
because the recurrence's per-step products are too small to gain from bfloat16 and pay for
their casts (docs/benchmarks.md has the measurements).
``auto`` turns it on where the CPU has bfloat16 instructions (AVX512-BF16 or AMX-BF16) and off
elsewhere, where torch emulates bfloat16, far slower than float32. It does nothing to tensors on
a GPU.
"""
import contextlib
from pathlib import Path

import torch

CHOICES = ("none", "bf16", "auto")
BF16_FLAGS = {"avx512_bf16", "amx_bf16"}


def cpu_has_bf16_instructions(cpuinfo=Path("/proc/cpuinfo")):
    """Whether the CPU's flags (Linux's /proc/cpuinfo) include bfloat16 instructions."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return False
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return bool(BF16_FLAGS & set(flags))


def uses_bf16(choice):
    """The --cpu-autocast choice resolved on this machine."""
    if choice not in CHOICES:
        raise ValueError(f"--cpu-autocast must be one of {', '.join(CHOICES)}, not {choice!r}")
    return choice == "bf16" or (choice == "auto" and cpu_has_bf16_instructions())


def cpu_autocast(enabled, device):
    """bfloat16 autocast for work on the CPU when ``enabled``; otherwise nothing changes."""
    if enabled and device.type == "cpu":
        return torch.autocast("cpu", dtype=torch.bfloat16)
    return contextlib.nullcontext()
