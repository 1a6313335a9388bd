"""Multiplicative attention, eqs (7)-(9)."""
import torch
import torch.nn as nn


class MultiplicativeAttention(nn.Module):
    """e_{t,i} = (h_t^dec)^T W_attProj h_i^enc, alpha_t = softmax(e_t), a_t = sum_i alpha_{t,i} h_i^enc.

    ``project_keys`` computes W_attProj h_i^enc once per sentence; the decoder keeps the
    result for every step (and in its incremental state during generation).
    """

    def __init__(self, enc_hidden_size, dec_hidden_size):
        super().__init__()
        self.att_projection = nn.Linear(enc_hidden_size, dec_hidden_size, bias=False)

    def project_keys(self, enc_hiddens):
        """(B, S, 2h) -> (B, S, h): W_attProj h_i^enc for every source position."""
        return self.att_projection(enc_hiddens)

    def forward(self, dec_hidden, keys, enc_hiddens, enc_padding_mask):
        """dec_hidden (B, h), keys (B, S, h), enc_hiddens (B, S, 2h), mask (B, S) -> a_t (B, 2h), alpha_t (B, S)."""
        scores = torch.bmm(keys, dec_hidden.unsqueeze(2)).squeeze(2)  # eq (7)
        scores = scores.masked_fill(enc_padding_mask, float("-inf"))
        alpha = torch.softmax(scores, dim=1)  # eq (8)
        context = torch.bmm(alpha.unsqueeze(1), enc_hiddens).squeeze(1)  # eq (9)
        return context, alpha
