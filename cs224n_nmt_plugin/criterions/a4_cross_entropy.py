"""``--criterion a4_cross_entropy``: the homework's loss, computed where the target words are.

run.py's loss is the summed negative log-likelihood of the target words, eqs (13)-(14):

    P_t = softmax(W_vocab o_t)        loss = -sum_t log P_t[y_t]     (padding positions excluded)

fairseq's ``cross_entropy`` computes the same number from the decoder's logits at every position
of the padded (B, T) batch: it projects padding positions onto the vocabulary too, writes the
log-softmax of all of them (a [positions x vocabulary] tensor), and its backward pass writes two
more (NLL's gradient, then log-softmax's). This criterion asks the model for o_t
(``features_only=True``), applies ``model.output_layer`` (W_vocab) at the N target words only,
and computes softmax and NLL in one step whose backward pass turns the saved softmax into the
gradient of the logits, softmax(logits) - onehot(y), in place. The loss, the gradients and
fairseq's logged figures are cross_entropy's up to float32 rounding
(tests/test_a4_cross_entropy.py), and ``--sentence-avg`` works as it does there. It needs a
model whose forward takes ``features_only`` and whose ``output_layer`` gives the logits
(cs224n_nmt; also fairseq's transformer, not its lstm).
"""
import torch
from fairseq.criterions import register_criterion
from fairseq.criterions.cross_entropy import CrossEntropyCriterion, CrossEntropyCriterionConfig
from torch.autograd.function import once_differentiable


class SummedNLL(torch.autograd.Function):
    """-sum_n log softmax(logits_n)[target_n] for logits (N, V) and target (N,): a scalar.

    The forward pass keeps P = softmax(logits), and the backward pass turns it into
    d loss / d logits = P - onehot(target) in place, so neither pass writes a second (N, V)
    tensor and the backward pass computes no exponentials. Writing over a saved tensor makes a
    second backward pass through the same graph (retain_graph=True) fail loudly: autograd checks
    the saved tensor's version.
    """

    @staticmethod
    def forward(ctx, logits, target):
        probs = torch.softmax(logits, dim=1)  # P_t, eq (13), (N, V)
        # -log P_t[y_t] = log sum_w exp(x_w) - x_{y_t}, and log sum_w exp(x_w) = max_w x_w - log max_w P_t[w]
        # (P_t peaks where the logits do, at no less than 1/V): P_t[y_t] itself may underflow to 0.
        log_normalizer = logits.amax(dim=1) - probs.amax(dim=1).log()
        ctx.save_for_backward(probs, target)
        return (log_normalizer - logits.gather(1, target.unsqueeze(1)).squeeze(1)).sum()  # eq (14)

    @staticmethod
    @once_differentiable
    def backward(ctx, grad_loss):
        probs, target = ctx.saved_tensors
        grad = probs  # P_t - onehot(y_t), written over the saved P_t
        grad[torch.arange(len(target), device=grad.device), target] -= 1
        if grad_loss != 1:  # 1 from loss.backward(); a loss scale under --amp
            grad.mul_(grad_loss)
        return grad, None


@register_criterion("a4_cross_entropy", dataclass=CrossEntropyCriterionConfig)
class A4CrossEntropyCriterion(CrossEntropyCriterion):
    def forward(self, model, sample, reduce=True):
        if not reduce:
            raise ValueError("a4_cross_entropy computes the summed loss only; use cross_entropy for per-word losses")
        features, _ = model(**sample["net_input"], features_only=True)  # o_t, (B, T, h)
        target = sample["target"]
        words = target.ne(self.padding_idx)  # (B, T)
        logits = model.output_layer(features[words])  # W_vocab o_t at the N words, (N, V)
        loss = SummedNLL.apply(logits.float(), target[words])
        sample_size = target.size(0) if self.sentence_avg else sample["ntokens"]
        logging_output = {"loss": loss.data, "ntokens": sample["ntokens"], "nsentences": target.size(0),
                          "sample_size": sample_size}
        return loss, sample_size, logging_output
