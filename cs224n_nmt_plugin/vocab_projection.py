"""W_vocab o_t, the logits of eq (13), formed a block of words at a time when decoding on CPU.

The product of a beam's few hundred rows o_t (h = 128 or 256 columns) with the whole
vocabulary is a matrix product with a short inner dimension and a very wide output. On this
project's CPU machine (MKL, AVX2, 2 cores) it ran at 65-90 GFLOP/s as one product, and at
100-130 GFLOP/s when formed 512 words at a time into the columns of one output (each block's
weights and output then stay in cache): 1.3-1.6x faster for 32-650 rows and vocabularies of
15,098 and 50,006 words. The values are the same dot products.

Only without gradients (generation, validation): in training the blocks gained 2-4% of a step
but, under the pipeline's malloc settings (allocator_settings.py), changed the order of the
large allocations so that the process kept about 200 MB more (peak RSS, a4-sized vocabulary).
On a GPU, under autocast or with mixed dtypes it is F.linear.
"""
import torch
import torch.nn.functional as F

WORDS_PER_BLOCK = 512


def vocab_logits(features, weight, words_per_block=WORDS_PER_BLOCK):
    """features (..., h) times weight (V, h) transposed: (..., V)."""
    needs_gradients = torch.is_grad_enabled() and (features.requires_grad or weight.requires_grad)
    if (needs_gradients or features.device.type != "cpu" or features.dtype != weight.dtype
            or torch.is_autocast_enabled("cpu")):
        return F.linear(features, weight)
    rows = features.reshape(-1, features.size(-1))
    logits = rows.new_empty(rows.size(0), weight.size(0))
    for start in range(0, weight.size(0), words_per_block):
        block = slice(start, start + words_per_block)
        torch.mm(rows, weight[block].t(), out=logits[:, block])
    return logits.view(*features.shape[:-1], weight.size(0))
