"""The decoder's step as the handout writes it, eqs (5)-(12), in plain autograd.

This plays the part of the starter code's ``NMT.step``: a student reads it beside the handout.
The decoder itself runs recurrence.py, which regroups these products and writes the backward
pass by hand; the tests hold recurrence.py to this step (outputs, states and every gradient).
"""
import torch

from cs224n_nmt_plugin.models.recurrence import RecurrentState


def reference_step(decoder, y_t, state, enc_hiddens, padding_mask, dropout_mask=None):
    """One step of eqs (5)-(12) with the weights of ``decoder`` (a CS224nDecoder).

    y_t           (B, e)      the embedding of the previous target word
    state         RecurrentState of h_{t-1}^dec, c_{t-1}^dec, o_{t-1}, each (B, h)
    enc_hiddens   (B, S, 2h)  h_i^enc
    padding_mask  (B, S)      True at padded source positions
    dropout_mask  (B, h)      0 or 1/(1-p) per unit of o_t, or None (no dropout)

    Returns the RecurrentState after the step (h_t^dec, c_t^dec, o_t) and alpha_t (B, S).
    """
    ybar_t = torch.cat([y_t, state.o], dim=1)  # eq (5)
    h_t, c_t = decoder.cell(ybar_t, (state.h, state.c))  # eq (6)
    e_t = decoder.attention.scores(h_t, enc_hiddens)  # eq (7): (h_t^dec)^T W_attProj h_i^enc
    e_t = e_t.masked_fill(padding_mask, float("-inf"))
    alpha_t = torch.softmax(e_t, dim=1)  # eq (8)
    a_t = torch.bmm(alpha_t.unsqueeze(1), enc_hiddens).squeeze(1)  # eq (9)
    u_t = torch.cat([a_t, h_t], dim=1)  # eq (10)
    v_t = decoder.combined_output_projection(u_t)  # eq (11)
    o_t = torch.tanh(v_t)  # eq (12)
    if dropout_mask is not None:
        o_t = o_t * dropout_mask
    return RecurrentState(h=h_t, c=c_t, o=o_t), alpha_t


def reference_decoder(decoder, prev_output_tokens, encoder_out, dropout_masks=None):
    """Eqs (3)-(12) over a target prefix (B, T), one reference_step at a time, from the encoder's
    output (eqs 3-4 give h_0 and c_0; o_0 = 0). ``dropout_masks`` (T, B, h) or None.

    Returns o_1..o_T (B, T, h), alpha (B, T, S) and the RecurrentState after step T."""
    if decoder.a4_framing:  # the homework's decoder starts from <s> where fairseq feeds </s>
        eos = prev_output_tokens.eq(decoder.dictionary.eos())
        prev_output_tokens = prev_output_tokens.masked_fill(eos, decoder.dictionary.bos())
    h_0 = encoder_out["dec_init_h"]
    state = RecurrentState(h=h_0, c=encoder_out["dec_init_c"], o=torch.zeros_like(h_0))
    outputs, alphas = [], []
    for t, y_t in enumerate(decoder.embed_tokens(prev_output_tokens).unbind(1)):
        mask = None if dropout_masks is None else dropout_masks[t]
        state, alpha_t = reference_step(decoder, y_t, state, encoder_out["enc_hiddens"],
                                        encoder_out["enc_padding_mask"], mask)
        outputs.append(state.o)
        alphas.append(alpha_t)
    return torch.stack(outputs, dim=1), torch.stack(alphas, dim=1), state
