"""``--cpu-autocast``: mixed precision on a CPU, as fairseq's --amp is on a GPU.

fairseq's --amp is CUDA-only and its --bf16 crashes on a CPU. With ``--cpu-autocast bf16`` the
encoder and the decoder run under torch's CPU autocast in bfloat16: the products (the LSTMs,
the projections, attention and the output layer) in bfloat16, while the weights, the decoder's
recurrent states (recurrence.py keeps them in the weights' float32), the log-softmax and the
loss (fairseq computes them on float32 logits), the gradients and the optimizer stay float32.
``auto`` turns it on where the CPU has bfloat16 instructions (AVX512-BF16 or AMX-BF16) and off
elsewhere. It does nothing to tensors on a GPU.
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
