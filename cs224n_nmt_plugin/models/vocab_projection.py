"""Eq (13)'s product, W_vocab o_t: the ``target_vocab_projection`` of the decoder.

The output layer multiplies a batch's target words o_t (N x h, N a few hundred) by W_vocab^T
(h x V, V in the tens of thousands): a short inner dimension and a wide result, the largest
product of a training step. VocabProjection computes it the way that is fastest where it runs:

* on a CPU in training with --cpu-autocast bf16: in bfloat16 under torch's CPU autocast;
* on an x86 CPU in float32: in oneDNN's inner-product kernel, which torch ships for its CPU
  compiler (``torch.ops.mkldnn._linear_pointwise``) and which computes this product faster than
  MKL's sgemm behind nn.Linear, with the same float32 error; the backward pass's two products
  (inner dimension V or N) stay torch's, where MKL is as fast;
* on another CPU in float32, when generating: with W_vocab^T stored contiguously, the layout in
  which MKL's product with a beam's few rows is fastest;
* elsewhere (a GPU, float64, autocast): torch's own product.

oneDNN (and CPU autocast, which hands bfloat16 products to oneDNN) builds and keeps a kernel for
every shape it meets, and a training run meets a new number of target words with nearly every
batch: the rows are padded with zero rows to a multiple of TRAINING_ROWS, and of
GENERATION_ROWS once prepared for generation (a beam's or a greedy batch's few rows), which
keeps the shapes few and the memory flat. docs/benchmarks.md has the measurements.
"""
import functools
import platform

import torch
import torch.nn as nn
import torch.nn.functional as F

from cs224n_nmt_plugin.models.cpu_autocast import cpu_autocast

TRAINING_ROWS = 64  # a training batch's rows are padded to a multiple of this for oneDNN
GENERATION_ROWS = 16  # and a generation step's to a multiple of this


def pad_rows(rows, multiple):
    """rows (N, h) with zero rows appended up to a multiple of ``multiple``."""
    return F.pad(rows, (0, 0, 0, -len(rows) % multiple))


@functools.cache
def onednn_product_available():
    """Whether this torch has oneDNN's float32 inner product on an x86-64 CPU."""
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


class _OneDNNProduct(torch.autograd.Function):
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


def on_rows(product, features, *args):
    """``product(rows, *args)`` over the rows of features (..., h), reshaped back to (..., V)."""
    rows = features.reshape(-1, features.size(-1))
    return product(rows, *args).view(*features.shape[:-1], -1)


def bf16_product(rows, weight):
    """rows @ weight^T under CPU bfloat16 autocast, over rows padded for oneDNN's kernel cache."""
    with cpu_autocast(True, rows.device):
        return F.linear(pad_rows(rows, TRAINING_ROWS), weight)[: len(rows)]


class VocabProjection(nn.Linear):
    """W_vocab of eq (13) (V x h, no bias, the parameter ``weight`` as nn.Linear names it): the
    logits (..., V) of features o_t (..., h); fairseq applies the (log-)softmax.

    ``cpu_bf16``: the product in bfloat16 in training on a CPU (--cpu-autocast). Validation and
    generation (eval mode) compute it in float32.
    """

    def __init__(self, hidden_size, vocabulary_size, cpu_bf16=False):
        super().__init__(hidden_size, vocabulary_size, bias=False)
        self.cpu_bf16 = cpu_bf16
        self.row_multiple = TRAINING_ROWS
        # made by prepare_for_generation where it pays; a buffer so that .to() moves it, not saved
        self.register_buffer("weight_transposed", None, persistent=False)

    def forward(self, features):
        if self.cpu_bf16 and self.training and features.device.type == "cpu":
            return on_rows(bf16_product, features, self.weight)
        if uses_onednn(features, self.weight):
            return on_rows(_OneDNNProduct.apply, features, self.weight, self.row_multiple)
        if self.weight_transposed is not None and features.dtype == self.weight_transposed.dtype:
            return on_rows(torch.mm, features, self.weight_transposed)
        return F.linear(features, self.weight)

    def prepare_for_generation(self):
        """For a frozen model's decoding steps: pad oneDNN's rows less, or, on a float32 CPU
        without it, keep W_vocab^T contiguous."""
        weight = self.weight
        if uses_onednn(weight, weight):
            self.row_multiple = GENERATION_ROWS
        elif weight.device.type == "cpu" and weight.dtype == torch.float32:
            self.weight_transposed = weight.detach().t().contiguous()
