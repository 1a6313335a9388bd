"""Eq (13)'s product W_vocab o_t on an x86 CPU in float32, through oneDNN's kernel.

The output layer multiplies a batch's target words o_t (N x h, N a few hundred, h = 128 or 256)
by W_vocab^T (h x V, V = 15k to 50k): a short inner dimension and a wide result. torch's float32
kernel for it (MKL's sgemm, what nn.Linear calls) was the slowest of the layer's three products
on this project's 2-core x86 CPU; oneDNN's inner-product kernel, which torch ships for its CPU
compiler (``torch.ops.mkldnn._linear_pointwise``), computed the same float32 product 1.4-1.6x
faster (238 x 128 by 15,098: 11.7 -> 7.3 ms; 640 x 256 by 50,002: 165 -> 117 ms), with the same
error against float64 as MKL's. The backward pass's two products (inner dimension V or N) were
as fast or faster in MKL, so they stay there.

oneDNN builds and keeps a kernel for every shape it meets: a training run meets a new number of
target words with nearly every batch, and its memory grew with them (+280 MB over 550 shapes).
The rows are padded to a multiple of TRAINING_ROWS (zero rows, sliced off), which keeps a dozen
shapes and the memory flat at no cost in speed. Generation's products have a beam's or a greedy
batch's rows (5 to 160): padded to a multiple of GENERATION_ROWS, oneDNN computed them 1.1x (5
rows) to 1.4-1.9x (100-160 rows) faster than MKL with W_vocab^T stored contiguously, where
padding to 64 rows lost at 5 rows (6.0 against 3.6 ms at V = 15,098).
"""
import functools
import platform

import torch
import torch.nn.functional as F

TRAINING_ROWS = 64  # a training batch's rows are padded to a multiple of this for oneDNN
GENERATION_ROWS = 16  # and a generation step's to a multiple of this


def pad_rows(rows, multiple=TRAINING_ROWS):
    """rows (N, h) with zero rows appended up to a multiple of ``multiple``."""
    return F.pad(rows, (0, 0, 0, -len(rows) % multiple))


@functools.lru_cache(maxsize=None)
def onednn_product_available():
    """Whether this torch has oneDNN's float32 inner product on an x86-64 CPU, where it was measured."""
    if platform.machine().lower() not in ("x86_64", "amd64") or not torch.backends.mkldnn.is_available():
        return False
    try:
        onednn_linear(torch.ones(1, 1), torch.ones(1, 1))
    except (AttributeError, RuntimeError, NotImplementedError):
        return False
    return True


def onednn_linear(rows, weight):
    """rows (N, h) @ weight^T (h, V) -> (N, V) in oneDNN's kernel."""
    return torch.ops.mkldnn._linear_pointwise(rows, weight, None, "none", [], "")


class _VocabProduct(torch.autograd.Function):
    """logits = o W_vocab^T for o (N, h) and W_vocab (V, h): oneDNN forward, torch's backward."""

    @staticmethod
    def forward(ctx, rows, weight, row_multiple):
        ctx.save_for_backward(rows, weight)
        return onednn_linear(pad_rows(rows, row_multiple), weight)[: len(rows)]

    @staticmethod
    def backward(ctx, grad_logits):
        rows, weight = ctx.saved_tensors
        grad_rows = grad_logits.mm(weight) if ctx.needs_input_grad[0] else None  # (N, V) x (V, h)
        grad_weight = grad_logits.t().mm(rows) if ctx.needs_input_grad[1] else None  # (V, N) x (N, h)
        return grad_rows, grad_weight, None


def uses_onednn(features, weight):
    """oneDNN takes float32 products on an x86 CPU outside autocast (whose dtype wins there)."""
    return (features.device.type == "cpu" and features.dtype == weight.dtype == torch.float32
            and not torch.is_autocast_enabled("cpu") and onednn_product_available())


def vocab_logits(features, weight, row_multiple=TRAINING_ROWS):
    """W_vocab o_t, eq (13), for features (..., h) and W_vocab (V, h): logits (..., V); through
    oneDNN, the rows are padded to a multiple of ``row_multiple``."""
    if not uses_onednn(features, weight):
        return F.linear(features, weight)
    rows = features.reshape(-1, features.size(-1))
    return _VocabProduct.apply(rows, weight, row_multiple).view(*features.shape[:-1], -1)
