"""The decoder's recurrence, eqs (5)-(12), over a whole target prefix, with its backward
pass written out by hand (backpropagation through time). reference_step.py computes the same
step as the handout writes it, in plain autograd; the tests hold this module to it.

Why by hand: under autograd every time step multiplies its own B rows into each weight's
gradient and adds that into the running sum, one small product per weight per step. Here
the backward pass keeps the gradients of every step's gates and of v_t, and forms each
weight's gradient at the end as one product over all T*B rows; the steps themselves run
without autograd's per-operation bookkeeping.

The handout's products are regrouped (the same values up to rounding); reference_step's lines
map to these:

* ``ybar_t = cat(y_t, o_{t-1})`` and ``decoder.cell(ybar_t, ...)``, eqs (5)-(6): W_ih ybar_t =
  W_y y_t + W_o o_{t-1}. The caller computes W_y y_t + b for all steps at once
  (``input_gates``); inside the loop W_o o_{t-1} + W_hh h_{t-1} is one product of
  [o_{t-1}; h_{t-1}] with ``StepWeights.recurrent`` = [W_o  W_hh].
* ``e_t = attention.scores(h_t, enc_hiddens)``, eq (7): the keys W_attProj h_i^enc are computed
  once per sentence (``SourceMemory.keys``) and each step takes their dot product with h_t.
* ``a_t``, ``u_t = cat(a_t, h_t)`` and ``v_t = W_u u_t``, eqs (9)-(11): W_u [a_t; h_t] =
  W_ua a_t + W_uh h_t, and W_ua a_t = sum_i alpha_{t,i} W_ua h_i^enc. The caller computes the
  ``SourceMemory.values`` W_ua h_i^enc once per sentence, so a step never forms a_t itself;
  ``StepWeights.output`` is W_uh.
* ``o_t = tanh(v_t)`` times the dropout mask, eq (12), as in reference_step.

The attention score e_{t,i} (eq 7) comes from the attention object (attention.py), which
also supplies its backward step.
"""
import functools
from typing import NamedTuple

import torch
from torch.autograd.function import once_differentiable


class RecurrentState(NamedTuple):
    """The decoder's state between two steps, each (B, h): h_t^dec, c_t^dec and o_t, which the
    next step feeds back (eq 5). At the start of a sentence h_0, c_0 (eqs 3-4) and o_0 = 0."""

    h: torch.Tensor
    c: torch.Tensor
    o: torch.Tensor


class SourceMemory(NamedTuple):
    """What every step reads of the source sentence, computed once per sentence."""

    keys: torch.Tensor  # (B, S, h) the attention's per-sentence part of e_{t,i} (eq 7): W_attProj h_i^enc
    values: torch.Tensor  # (B, S, h) W_ua h_i^enc: eq (11)'s W_ua a_t = sum_i alpha_{t,i} W_ua h_i^enc
    padding_mask: torch.Tensor  # (B, S) True at padded source positions (e_{t,i} = -inf there)


class StepWeights(NamedTuple):
    """The weights applied inside the step loop."""

    recurrent: torch.Tensor  # (4h, 2h) [W_o  W_hh] of eq (6), applied to [o_{t-1}; h_{t-1}]
    output: torch.Tensor  # (h, h) W_uh of eq (11), applied to h_t
    attention: object  # the Attention (attention.py): e_{t,i}, with score_weights() applied inside the loop


def decoder_recurrence(input_gates, state, memory, weights, dropout_mask=None):
    """Run eqs (5)-(12) for T steps.

    input_gates   (T, B, 4h)  W_y y_t + b_ih + b_hh for every step
    state         RecurrentState before the first step
    memory        SourceMemory of the batch's sentences
    weights       StepWeights
    dropout_mask  (T, B, h)   0 or 1/(1-p) per unit of o_t (eq 12), or None (no dropout)

    Returns o_1..o_T (T, B, h), the attention alpha (T, B, S) and the RecurrentState after step T.
    """
    # autograd.Function sees only the tensors passed to apply() one by one: the groups are opened here.
    outputs, alphas, h, c = _Recurrence.apply(
        weights.attention, input_gates, state.h, state.c, state.o, weights.recurrent, memory.keys, memory.values,
        memory.padding_mask, weights.output, dropout_mask, *weights.attention.score_weights(),
    )
    return outputs, alphas, RecurrentState(h, c, outputs[-1])


class _Recurrence(torch.autograd.Function):
    @staticmethod
    def forward(ctx, attention, input_gates, h0, c0, o0, recurrent_weight, keys, values, padding_mask,
                output_weight, dropout_mask, *score_weights):
        steps, batch, hidden = input_gates.size(0), input_gates.size(1), h0.size(1)
        # The states are kept in the weights' precision: under mixed precision (--amp, autocast)
        # the products run in half precision and the recurrence accumulates in float32.
        device = input_gates.device.type
        ctx.autocast = device, torch.is_autocast_enabled(device), torch.get_autocast_dtype(device)
        new = functools.partial(input_gates.new_empty, dtype=recurrent_weight.dtype)
        states = new(steps + 1, batch, 2 * hidden)  # [o_t; h_t] for t = 0..T: step t+1 reads row t
        states[0, :, :hidden] = o0
        states[0, :, hidden:] = h0
        gates = new(steps, batch, 4 * hidden)  # i, f, g, o after their nonlinearities
        cells = new(steps + 1, batch, hidden)  # c_0 .. c_T
        cells[0] = c0
        tanh_cells, tanh_v = new(steps, batch, hidden), new(steps, batch, hidden)
        alphas = new(steps, batch, keys.size(1))
        score_saved = []
        for t in range(steps):
            o, h = states[t + 1, :, :hidden], states[t + 1, :, hidden:]  # this step's outputs, written in place
            pre_activation = torch.addmm(input_gates[t], states[t], recurrent_weight.t())  # eq (6)
            gate = gates[t]
            torch.sigmoid(pre_activation, out=gate)
            torch.tanh(pre_activation[:, 2 * hidden:3 * hidden], out=gate[:, 2 * hidden:3 * hidden])
            i, f, g, out_gate = gate.chunk(4, dim=1)
            torch.addcmul(f * cells[t], i, g, out=cells[t + 1])
            torch.tanh(cells[t + 1], out=tanh_cells[t])
            torch.mul(out_gate, tanh_cells[t], out=h)
            scores, saved = attention.step_scores(h, keys, *score_weights)  # eq (7)
            score_saved.append(saved)
            alpha = torch.softmax(scores.masked_fill_(padding_mask, float("-inf")), dim=1)  # eq (8)
            alphas[t] = alpha
            v = torch.addmm(torch.bmm(alpha.unsqueeze(1), values).squeeze(1), h, output_weight.t())  # eqs (9)-(11)
            torch.tanh(v, out=tanh_v[t])  # eq (12)
            if dropout_mask is None:
                o.copy_(tanh_v[t])
            else:
                torch.mul(tanh_v[t], dropout_mask[t], out=o)  # eq (12)
        ctx.attention = attention
        ctx.score_saved = score_saved
        ctx.save_for_backward(recurrent_weight, keys, values, output_weight, dropout_mask, states, gates, cells,
                              tanh_cells, tanh_v, alphas, *score_weights)
        ctx.mark_non_differentiable(alphas)
        return states[1:, :, :hidden].contiguous(), alphas, states[steps, :, hidden:].clone(), cells[steps].clone()

    @staticmethod
    @once_differentiable  # the saved states carry no graph: a second derivative must fail loudly
    def backward(ctx, d_outputs, _d_alphas, d_last_h, d_last_c):
        device, autocast, dtype = ctx.autocast
        with torch.autocast(device, dtype=dtype, enabled=autocast):  # as in the forward pass
            return _Recurrence.backward_steps(ctx, d_outputs, d_last_h, d_last_c)

    @staticmethod
    def backward_steps(ctx, d_outputs, d_last_h, d_last_c):
        (recurrent_weight, keys, values, output_weight, dropout_mask, states, gates, cells, tanh_cells, tanh_v,
         alphas, *score_weights) = ctx.saved_tensors
        steps, batch, hidden = tanh_v.shape
        hiddens = states[1:, :, hidden:]

        # The local derivatives, for all steps at once; the loop then only multiplies them in.
        i, f, g, out_gate = gates.chunk(4, dim=2)
        v_factor = 1 - tanh_v * tanh_v  # tanh' of eq (12)
        if dropout_mask is not None:
            v_factor *= dropout_mask  # eq (12)
        h_to_c = out_gate * (1 - tanh_cells * tanh_cells)  # dh_t/dc_t through h_t = o * tanh(c_t), eq (6)
        # dc_t/d(pre-activation) of i, f and g (c_t = f * c_{t-1} + i * g), and dh_t/d(pre-activation of o)
        c_to_ifg = torch.stack([g * i * (1 - i), cells[:-1] * f * (1 - f), i * (1 - g * g)], dim=2)
        h_to_o = tanh_cells * out_gate * (1 - out_gate)

        d_gates = gates.new_empty(steps, batch, 4 * hidden)  # gradients of eq (6)'s pre-activations
        d_ifg = d_gates[:, :, :3 * hidden].view(steps, batch, 3, hidden)
        d_v = torch.empty_like(tanh_v)
        d_keys = torch.zeros_like(keys, dtype=tanh_v.dtype)
        d_score_weights = [torch.zeros_like(w) for w in score_weights]
        # autograd passes zeros for outputs that got no gradient (materialize_grads, the default)
        d_h, d_c = d_last_h, d_last_c  # each replaced, never changed in place
        d_o = tanh_v.new_zeros(batch, hidden)  # what o_t receives from step t+1 (input feeding)
        for t in reversed(range(steps)):
            d_v_t = torch.mul(d_o + d_outputs[t], v_factor[t], out=d_v[t])  # eqs (11)-(12)
            d_h = torch.addmm(d_h, d_v_t, output_weight)  # eq (11): the W_uh h_t part
            alpha = alphas[t]
            weighted = alpha * (values * d_v_t.unsqueeze(1)).sum(dim=2)  # alpha * dL/dalpha, eq (9)
            d_scores = torch.addcmul(weighted, alpha, weighted.sum(dim=1, keepdim=True), value=-1)  # softmax, eq (8)
            d_h += ctx.attention.step_scores_backward(  # eq (7)
                d_scores, hiddens[t], keys, ctx.score_saved[t], d_keys, d_score_weights, *score_weights)
            d_c = torch.addcmul(d_c, d_h, h_to_c[t])  # eq (6)
            torch.mul(d_c.unsqueeze(1), c_to_ifg[t], out=d_ifg[t])
            torch.mul(d_h, h_to_o[t], out=d_gates[t, :, 3 * hidden:])
            d_c = d_c * f[t]
            d_previous = d_gates[t] @ recurrent_weight
            d_o, d_h = d_previous[:, :hidden], d_previous[:, hidden:]

        flat = steps * batch
        d_recurrent_weight = d_gates.view(flat, -1).t() @ states[:-1].reshape(flat, -1)
        d_output_weight = d_v.view(flat, -1).t() @ hiddens.reshape(flat, -1)
        d_values = torch.bmm(alphas.permute(1, 2, 0), d_v.transpose(0, 1))  # sum_t alpha_t^T dv_t per sentence
        return (None, d_gates, d_h, d_c, d_o, d_recurrent_weight, d_keys, d_values, None, d_output_weight, None,
                *d_score_weights)
