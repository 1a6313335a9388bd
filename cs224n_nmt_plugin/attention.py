"""Attention over the encoder states: the handout's multiplicative attention, eqs (7)-(9),
and the dot-product and additive variants of its attention question (``--attention``).

Every variant has the same interface, used by the decoder:

    keys = attention.project_keys(enc_hiddens)    # once per sentence (kept in the incremental state)
    a_t, alpha_t = attention(h_t^dec, keys, enc_hiddens, enc_padding_mask)

Only the score e_{t,i} differs; the softmax (8) and the context vector a_t (9), a weighted
sum of the full encoder states h_i^enc in R^2h, are the same for all.
"""
import torch
import torch.nn as nn


def dot_scores(keys, dec_hidden):
    """(B, S, h) keys and (B, h) decoder states -> (B, S) scores key_i^T h_t^dec."""
    return torch.bmm(keys, dec_hidden.unsqueeze(2)).squeeze(2)


class Attention(nn.Module):
    """Eqs (8)-(9) on top of a subclass's scores e_{t,i}; padded positions get -inf."""

    name = None  # the --attention choice

    def project_keys(self, enc_hiddens):
        """(B, S, 2h) -> the per-sentence part of the score, for every source position."""
        raise NotImplementedError

    def scores(self, dec_hidden, keys):
        """(B, h), keys -> e_t (B, S)."""
        raise NotImplementedError

    def forward(self, dec_hidden, keys, enc_hiddens, enc_padding_mask):
        """dec_hidden (B, h), keys, enc_hiddens (B, S, 2h), mask (B, S) -> a_t (B, 2h), alpha_t (B, S)."""
        scores = self.scores(dec_hidden, keys).masked_fill(enc_padding_mask, float("-inf"))
        alpha = torch.softmax(scores, dim=1)  # eq (8)
        context = torch.bmm(alpha.unsqueeze(1), enc_hiddens).squeeze(1)  # eq (9)
        return context, alpha


class MultiplicativeAttention(Attention):
    """e_{t,i} = (h_t^dec)^T W_attProj h_i^enc, eq (7): the handout's model (the default).

    ``project_keys`` computes W_attProj h_i^enc once per sentence.
    """

    name = "multiplicative"

    def __init__(self, enc_hidden_size, dec_hidden_size):
        super().__init__()
        self.att_projection = nn.Linear(enc_hidden_size, dec_hidden_size, bias=False)

    def project_keys(self, enc_hiddens):
        return self.att_projection(enc_hiddens)

    def scores(self, dec_hidden, keys):
        return dot_scores(keys, dec_hidden)  # eq (7)


class DotAttention(Attention):
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

    def scores(self, dec_hidden, keys):
        return dot_scores(keys, dec_hidden)


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

    def scores(self, dec_hidden, keys):
        hidden = torch.tanh(keys + self.query_projection(dec_hidden).unsqueeze(1))
        return self.score_vector(hidden).squeeze(2)


ATTENTIONS = {cls.name: cls for cls in (MultiplicativeAttention, DotAttention, AdditiveAttention)}


def build_attention(name, enc_hidden_size, dec_hidden_size):
    """The attention called ``name`` (a key of ATTENTIONS) between the given state sizes."""
    if name not in ATTENTIONS:
        raise ValueError(f"unknown attention {name!r}: choose one of {', '.join(ATTENTIONS)}")
    return ATTENTIONS[name](enc_hidden_size, dec_hidden_size)
