"""W_vocab o_t, the logits of eq (13), formed on CPU a block of words at a time.

The product of a few hundred rows o_t (h = 128 or 256 columns) with the whole vocabulary is
a matrix product with a short inner dimension and a very wide output. On this project's CPU
machine (MKL, AVX2, 2 cores) it ran at 65-90 GFLOP/s as one product, and at 100-130 GFLOP/s
when formed 512 words at a time into the columns of one output (each block's weights and
output then stay in cache): 1.3-1.6x faster for 32-650 rows and vocabularies of 15,098 and
50,006 words. The values are the same dot products. The gradients are single products
(they ran at 120-140 GFLOP/s). Elsewhere (GPU, autocast, mixed dtypes) it is F.linear.
"""
import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

WORDS_PER_BLOCK = 512


def vocab_logits(features, weight, words_per_block=WORDS_PER_BLOCK):
    """features (..., h) times weight (V, h) transposed: (..., V)."""
    if features.device.type != "cpu" or features.dtype != weight.dtype or torch.is_autocast_enabled("cpu"):
        return F.linear(features, weight)
    rows = features.reshape(-1, features.size(-1))
    return _BlockedProjection.apply(rows, weight, words_per_block).view(*features.shape[:-1], weight.size(0))


class _BlockedProjection(torch.autograd.Function):
    @staticmethod
    def forward(ctx, rows, weight, words_per_block):
        ctx.save_for_backward(rows, weight)
        logits = rows.new_empty(rows.size(0), weight.size(0))
        for start in range(0, weight.size(0), words_per_block):
            block = slice(start, start + words_per_block)
            torch.mm(rows, weight[block].t(), out=logits[:, block])
        return logits

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_logits):
        rows, weight = ctx.saved_tensors
        grad_rows = grad_logits.mm(weight) if ctx.needs_input_grad[0] else None
        grad_weight = grad_logits.t().mm(rows) if ctx.needs_input_grad[1] else None
        return grad_rows, grad_weight, None
