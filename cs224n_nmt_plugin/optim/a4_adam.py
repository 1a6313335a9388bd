"""``--optimizer a4_adam``: the homework's optimizer, ``torch.optim.Adam(model.parameters(), lr)``.

run.py trains with torch's Adam (betas 0.9/0.999, eps 1e-8, no weight decay), which adds eps
after the bias correction:

    m_t = b1 m_{t-1} + (1 - b1) g_t          v_t = b2 v_{t-1} + (1 - b2) g_t^2
    theta_t = theta_{t-1} - lr * (m_t / (1 - b1^t)) / (sqrt(v_t / (1 - b2^t)) + eps)

fairseq's ``--optimizer adam`` adds it before (sqrt(v_t) + eps, the step scaled by
sqrt(1 - b2^t) / (1 - b1^t)): wherever a gradient is tiny the two updates differ, so fairseq's
is not the homework's optimizer. This one is torch's, inside fairseq's optimizer interface, so
--lr and the lr schedulers, --clip-norm, --update-freq, --amp's loss scaler, distributed
training and checkpoint save and resume work as with any fairseq optimizer.

``--a4-adam-implementation``: torch's Adam has three implementations of the same update. ``auto``
(the default) takes the fused kernel wherever torch has one for the parameters' device (CPU and
CUDA since torch 2.4), and torch's own default otherwise. The fused kernel is the fastest of
the three (scripts/bench.py times them); the for-loop and foreach ones give the same update up to
rounding.

Each update fairseq's trainer multiplies every gradient by 1/sample_size (``multiply_grads``),
then clip_grad_norm computes their norm and multiplies them again by the clipping coefficient:
two passes that write every gradient, then the optimizer's own. a4_adam keeps the two factors
(as fairseq's FP16Optimizer keeps its loss scale), returns the norm of the gradients they
scale, and applies their product once, in the step: inside torch's fused kernel (its
``grad_scale``, by which the kernel divides each gradient as it reads it) or, without one, in a
single pass before torch's step. Between ``multiply_grads`` and the step, ``p.grad`` therefore
holds the gradients without the factors, as fairseq's trainer notes some optimizers do.
"""
import logging
from dataclasses import dataclass, field
from typing import Any

import torch
from fairseq.dataclass import ChoiceEnum, FairseqDataclass
from fairseq.optim import FairseqOptimizer, register_optimizer
from omegaconf import II, OmegaConf

IMPLEMENTATIONS = ChoiceEnum(["auto", "fused", "foreach", "for-loop"])
logger = logging.getLogger(__name__)
TORCH_FLAGS = {"fused": {"fused": True}, "foreach": {"foreach": True}, "for-loop": {"foreach": False}}
CHUNK = 4096  # elements of each float32 partial sum in sum_of_squares


def sum_of_squares(tensor):
    """sum(tensor ** 2) in float64, from float32 partial sums over chunks of CHUNK elements (one
    batched product) added in float64: far closer to float64's norm than torch's float32
    vector_norm (what fairseq's clip_grad_norm_ uses), whose one long float32 sum loses digits,
    and no slower."""
    flat = tensor.reshape(-1)
    if flat.dtype in (torch.float16, torch.bfloat16):
        flat = flat.float()
    if len(flat) <= CHUNK:
        return torch.dot(flat, flat).double()
    whole = len(flat) - len(flat) % CHUNK
    chunks = flat[:whole].view(-1, 1, CHUNK)
    squares = torch.bmm(chunks, chunks.transpose(1, 2)).sum(dtype=torch.float64)
    return squares if whole == len(flat) else squares + sum_of_squares(flat[whole:])


@dataclass
class A4AdamConfig(FairseqDataclass):
    adam_betas: Any = field(default=(0.9, 0.999), metadata={"help": "betas for Adam (a4: 0.9, 0.999)"})
    adam_eps: float = field(default=1e-8, metadata={"help": "epsilon for Adam, added after the bias correction"})
    weight_decay: float = field(default=0.0, metadata={"help": "weight decay (a4: none)"})
    a4_adam_implementation: IMPLEMENTATIONS = field(
        default="auto", metadata={"help": "torch's fused, foreach or for-loop Adam; auto: fused where torch has it"})
    lr: Any = II("optimization.lr")


@register_optimizer("a4_adam", dataclass=A4AdamConfig)
class A4Adam(FairseqOptimizer):
    def __init__(self, cfg, params):
        super().__init__(cfg)
        params = list(params)
        choice = str(cfg.a4_adam_implementation)
        if choice == "auto":
            try:
                self._optimizer = torch.optim.Adam(params, **self.optimizer_config, fused=True)
                self.implementation = "fused"
            except RuntimeError:  # no fused kernel for these parameters' device or dtype
                self._optimizer = torch.optim.Adam(params, **self.optimizer_config)
                self.implementation = "torch's default"
        else:
            self._optimizer = torch.optim.Adam(params, **self.optimizer_config, **TORCH_FLAGS[choice])
            self.implementation = choice
        self._grad_factor = 1.0  # from multiply_grads and the clipping, applied by step()
        logger.info(f"a4_adam: torch.optim.Adam, {self.implementation} implementation")

    def multiply_grads(self, c):
        """Kept for the step (see above)."""
        self._grad_factor = self._grad_factor * c

    def clip_grad_norm(self, max_norm, aggregate_norm_fn=None):
        """The norm of the gradients times the kept factor (what fairseq's clip_grad_norm_ would
        return after multiply_grads); the clipping coefficient min(1, max_norm / norm) joins the factor."""
        grads = self._grads()
        if not grads:
            return torch.tensor(0.0)
        total_norm = torch.stack([sum_of_squares(g) for g in grads]).sum().sqrt().float() * self._grad_factor
        if aggregate_norm_fn is not None:
            total_norm = aggregate_norm_fn(total_norm)
        if max_norm > 0:
            self._grad_factor = self._grad_factor * (float(max_norm) / (total_norm + 1e-6)).clamp(max=1)
        return total_norm

    def step(self, closure=None, scale=1.0, groups=None):
        """torch's Adam step on the gradients times the kept factor (and 1/scale)."""
        factor, self._grad_factor = self._grad_factor / scale, 1.0
        if self.implementation == "fused":
            self._optimizer.grad_scale = torch.as_tensor(1.0 / factor, dtype=torch.float32)
            try:
                self._optimizer.step(closure)
            finally:
                del self._optimizer.grad_scale
            return
        grads = self._grads()
        if grads and not (isinstance(factor, float) and factor == 1.0):
            torch._foreach_mul_(grads, factor)
        self._optimizer.step(closure)

    def _grads(self):
        return [p.grad for p in self.params if p.grad is not None]

    def zero_grad(self):
        self._grad_factor = 1.0  # also after a step that fairseq skipped (an overflow under --amp)
        super().zero_grad()

    @property
    def optimizer_config(self):
        """The arguments of torch.optim.Adam; fairseq also applies them over a checkpoint's."""
        betas = self.cfg.adam_betas
        if isinstance(betas, str):
            betas = tuple(float(value) for value in betas.strip("()[] ").split(","))
        elif not isinstance(betas, tuple):
            betas = tuple(OmegaConf.to_container(betas) if OmegaConf.is_config(betas) else betas)
        lr = self.cfg.lr[0] if isinstance(self.cfg.lr, (list, tuple)) or OmegaConf.is_list(self.cfg.lr) else self.cfg.lr
        return {"lr": float(lr), "betas": betas, "eps": self.cfg.adam_eps, "weight_decay": self.cfg.weight_decay}
