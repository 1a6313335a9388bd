"""The a4 encoder: a bidirectional LSTM over source embeddings, eqs (1)-(4)."""
import torch
import torch.nn as nn
from fairseq.models import FairseqEncoder
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

from cs224n_nmt_plugin.models.beam_rows import SOURCE_ROWS, reorder, select_rows, source_rows


class CS224nEncoder(FairseqEncoder):
    """Returns a dict of batch-first tensors, all indexed like ``src_tokens``:

    enc_hiddens      (B, S, 2h)  h_i^enc = [h_i^fwd ; h_i^bwd], zero at padding   eqs (1)-(2)
    enc_padding_mask (B, S)      True at padding positions
    dec_init_h       (B, h)      h_0^dec = W_h [h_m^fwd ; h_1^bwd]                 eq (3)
    dec_init_c       (B, h)      c_0^dec = W_c [c_m^fwd ; c_1^bwd]                 eq (4)
    source_rows      (B,)        each row's sentence, for beam reordering (beam_rows.py)

    Padding may be on either side (fairseq left-pads sources by default): the tokens
    are moved to the front for the packed LSTM and its outputs moved back, so every
    sentence is encoded exactly as if it were alone.

    With ``a4_framing`` the source's </s> counts as padding, so the sentence is encoded
    (and attended to) without it, as in the homework.
    """

    def __init__(self, dictionary, embed_size, hidden_size, max_source_positions, a4_framing=False):
        super().__init__(dictionary)
        self.padding_idx = dictionary.pad()
        self.a4_framing = a4_framing
        self.max_source_positions = max_source_positions
        self.embed_tokens = nn.Embedding(len(dictionary), embed_size, padding_idx=self.padding_idx)
        self.lstm = nn.LSTM(embed_size, hidden_size, bidirectional=True, batch_first=True)
        self.h_projection = nn.Linear(2 * hidden_size, hidden_size, bias=False)
        self.c_projection = nn.Linear(2 * hidden_size, hidden_size, bias=False)

    def forward(self, src_tokens, src_lengths=None, **kwargs):
        padding_mask = src_tokens.eq(self.padding_idx)
        if self.a4_framing:
            padding_mask |= src_tokens.eq(self.dictionary.eos())
        lengths = src_tokens.size(1) - padding_mask.sum(dim=1)
        # A stable sort of the mask lists each row's token positions first, in order:
        # gathering with it right-pads the batch whatever its padding side.
        to_right_padded = torch.sort(padding_mask.to(torch.uint8), dim=1, stable=True).indices
        embedded = self.embed_tokens(src_tokens.gather(1, to_right_padded))

        packed = pack_padded_sequence(embedded, lengths.cpu(), batch_first=True, enforce_sorted=False)
        packed_out, (last_h, last_c) = self.lstm(packed)
        right_padded_out, _ = pad_packed_sequence(
            packed_out, batch_first=True, total_length=src_tokens.size(1)
        )
        index = to_right_padded.unsqueeze(-1).expand_as(right_padded_out)
        enc_hiddens = torch.zeros_like(right_padded_out).scatter_(1, index, right_padded_out)

        # last_h[0] is the forward LSTM's state after token m, last_h[1] the backward
        # LSTM's state after token 1 (packed sequences stop each row at its length).
        return {
            "enc_hiddens": enc_hiddens,
            "enc_padding_mask": padding_mask,
            "dec_init_h": self.h_projection(torch.cat([last_h[0], last_h[1]], dim=1)),
            "dec_init_c": self.c_projection(torch.cat([last_c[0], last_c[1]], dim=1)),
            SOURCE_ROWS: source_rows(src_tokens.size(0), src_tokens.device),
        }

    def reorder_encoder_out(self, encoder_out, new_order):
        """Select and repeat sentences for beam search (all tensors are batch-first); every
        tensor here depends on its sentence alone, so a reorder within sentences copies nothing."""
        _, same_sentences = reorder(encoder_out[SOURCE_ROWS], new_order)
        return encoder_out if same_sentences else select_rows(encoder_out, new_order)

    def max_positions(self):
        return self.max_source_positions
