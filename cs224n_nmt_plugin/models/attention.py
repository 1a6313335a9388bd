"""Attention scores over the encoder states: the handout's multiplicative attention, eq (7),
and the dot-product and additive variants of its attention question (``--attention``).

Every variant has the same interface, used by the decoder and its recurrence
(recurrence.py), which applies the softmax (8) and the weighted sum (9) common to all:

    keys = attention.project_keys(enc_hiddens)              # once per sentence (kept in the incremental state)
    e_t, saved = attention.step_scores(h_t, keys, *attention.score_weights())
    d_h = attention.step_scores_backward(d_e, h_t, keys, saved, d_keys, d_weights, *weights)

and ``attention.scores(h_t, enc_hiddens)`` computes e_t as the formula writes it, under autograd,
for the reference step (reference_step.py). Only the score e_{t,i} differs. ``score_weights``
are the parameters the score uses inside the recurrence (those applied once per sentence belong
to ``project_keys``, under autograd); ``step_scores_backward`` adds one step's gradients into
``d_keys`` and ``d_weights`` and returns the gradient for h_t.
"""
import torch
import torch.nn as nn


class Attention(nn.Module):
    name = None  # the --attention choice

    def project_keys(self, enc_hiddens):
        """(B, S, 2h) -> the per-sentence part of the score, for every source position."""
        raise NotImplementedError

    def scores(self, dec_hidden, enc_hiddens):
        """e_t (B, S) for h_t^dec (B, h) and h_i^enc (B, S, 2h), as the formula writes it."""
        raise NotImplementedError

    def score_weights(self):
        return ()

    def step_scores(self, dec_hidden, keys, *weights):
        """(B, h), keys -> e_t (B, S) and what the backward step needs."""
        raise NotImplementedError

    def step_scores_backward(self, d_scores, dec_hidden, keys, saved, d_keys, d_weights, *weights):
        raise NotImplementedError


class DotScoreAttention(Attention):
    """e_{t,i} = key_i^T h_t^dec, for keys computed once per sentence."""

    def scores(self, dec_hidden, enc_hiddens):
        return torch.bmm(self.project_keys(enc_hiddens), dec_hidden.unsqueeze(2)).squeeze(2)

    def step_scores(self, dec_hidden, keys):
        # A product and a sum: on a CPU faster than bmm for this matrix-vector shape.
        return (keys * dec_hidden.unsqueeze(1)).sum(dim=2), None

    def step_scores_backward(self, d_scores, dec_hidden, keys, saved, d_keys, d_weights):
        d_keys.baddbmm_(d_scores.unsqueeze(2), dec_hidden.unsqueeze(1))
        return torch.bmm(d_scores.unsqueeze(1), keys).squeeze(1)


class MultiplicativeAttention(DotScoreAttention):
    """e_{t,i} = (h_t^dec)^T W_attProj h_i^enc, eq (7): the handout's model (the default).

    ``project_keys`` computes W_attProj h_i^enc once per sentence.
    """

    name = "multiplicative"

    def __init__(self, enc_hidden_size, dec_hidden_size):
        super().__init__()
        self.att_projection = nn.Linear(enc_hidden_size, dec_hidden_size, bias=False)

    def project_keys(self, enc_hiddens):
        return self.att_projection(enc_hiddens)  # W_attProj h_i^enc of eq (7)


class DotAttention(DotScoreAttention):
    """Dot-product attention, e_{t,i} = s_t^T h_i, with s_t = h_t^dec in R^h and h_i = h_i^enc in R^2h.

    The handout's dot product assumes equal sizes; here the encoder state is twice the
    decoder's. We score against the mean of the two directions:

        e_{t,i} = (h_t^dec)^T (h_i^fwd + h_i^bwd) / 2

    * It adds no parameter: a learned map from R^2h to R^h would make this multiplicative
      attention again (it is exactly eq (7) with W_attProj fixed to [I I] / 2).
    * It treats both directions alike: scoring one half only would ignore what the other
      direction knows (the forward state of word i has not seen the words after it).
    * It keeps a dot product's scale: the mean of two LSTM states lies in [-1, 1]^h like a
      single state, so the scores range as a dot product of two h-vectors does, as when the
      sizes match (the sum [s_t; s_t]^T h_i would double every score and so sharpen the
      softmax for no reason).
    * Nothing else changes: resizing the decoder to 2h instead would change eqs (3)-(13).
    The context vector a_t (eq 9) still sums the full h_i^enc in R^2h.
    """

    name = "dot"

    def __init__(self, enc_hidden_size, dec_hidden_size):
        super().__init__()
        if enc_hidden_size != 2 * dec_hidden_size:
            raise ValueError(f"dot attention needs a bidirectional encoder state of twice the decoder's size, "
                             f"got {enc_hidden_size} and {dec_hidden_size}")

    def project_keys(self, enc_hiddens):
        # h_i^enc = [h_i^fwd ; h_i^bwd] (eq 1): split the last dimension into the two directions.
        return enc_hiddens.unflatten(-1, (2, -1)).mean(dim=-2)


class AdditiveAttention(Attention):
    """Additive attention, e_{t,i} = v^T tanh(W_1 h_i^enc + W_2 h_t^dec), W_1 in R^{h x 2h},
    W_2 in R^{h x h}, v in R^h: the attention size d_3 is the hidden size h, so W_1 has
    W_attProj's shape and ``project_keys`` (W_1 h_i^enc, once per sentence) costs the same.

    No biases, as in the handout's formula: a bias outside the tanh adds the same amount to
    every e_{t,i} and cancels in the softmax; one inside the tanh would be a parameter the
    question does not have.
    """

    name = "additive"

    def __init__(self, enc_hidden_size, dec_hidden_size):
        super().__init__()
        self.key_projection = nn.Linear(enc_hidden_size, dec_hidden_size, bias=False)  # W_1
        self.query_projection = nn.Linear(dec_hidden_size, dec_hidden_size, bias=False)  # W_2
        self.score_vector = nn.Linear(dec_hidden_size, 1, bias=False)  # v^T

    def project_keys(self, enc_hiddens):
        return self.key_projection(enc_hiddens)

    def scores(self, dec_hidden, enc_hiddens):
        hidden = torch.tanh(self.key_projection(enc_hiddens) + self.query_projection(dec_hidden).unsqueeze(1))
        return self.score_vector(hidden).squeeze(2)  # v^T tanh(W_1 h_i^enc + W_2 h_t^dec)

    def score_weights(self):
        return self.query_projection.weight, self.score_vector.weight

    def step_scores(self, dec_hidden, keys, query_weight, score_vector):
        hidden = torch.tanh(keys + (dec_hidden @ query_weight.t()).unsqueeze(1))  # (B, S, h)
        return (hidden @ score_vector.t()).squeeze(2), hidden

    def step_scores_backward(self, d_scores, dec_hidden, keys, hidden, d_keys, d_weights, query_weight, score_vector):
        d_query_weight, d_score_vector = d_weights
        d_score_vector += (d_scores.unsqueeze(2) * hidden).sum(dim=(0, 1))
        d_inner = d_scores.unsqueeze(2) * score_vector * (1 - hidden * hidden)  # through v^T tanh(.)
        d_keys += d_inner
        d_query = d_inner.sum(dim=1)
        d_query_weight.addmm_(d_query.t(), dec_hidden)
        return d_query @ query_weight


ATTENTIONS = {cls.name: cls for cls in (MultiplicativeAttention, DotAttention, AdditiveAttention)}


def build_attention(name, enc_hidden_size, dec_hidden_size):
    """The attention called ``name`` (a key of ATTENTIONS) between the given state sizes."""
    if name not in ATTENTIONS:
        raise ValueError(f"unknown attention {name!r}: choose one of {', '.join(ATTENTIONS)}")
    return ATTENTIONS[name](enc_hidden_size, dec_hidden_size)
