"""The a4 decoder: an input-feeding LSTM cell with attention, eqs (5)-(13)."""
import torch
import torch.nn as nn
from fairseq.models import FairseqIncrementalDecoder

from cs224n_nmt_plugin.attention import build_attention
from cs224n_nmt_plugin.batch_rows import SOURCE_ROWS, reorder_rows


class CS224nDecoder(FairseqIncrementalDecoder):
    """Teacher-forced over a whole target prefix in training, one step at a time in
    generation. The incremental state holds h_t^dec, c_t^dec, o_t and the projected
    attention keys, so every step continues exactly where the last one stopped.

    The extra output is ``{"attn": [alpha]}`` with alpha of shape (B, T, S), indexed
    like the encoder's ``src_tokens`` (used by --print-alignment and attention plots).
    Like fairseq's own decoders it is ``[None]`` after ``make_generation_fast_(need_attn=False)``
    (fairseq-generate without --print-alignment), which spares the beam search from
    keeping every step's attention.

    ``attention`` names the score of eq (7) (see attention.py). With ``a4_framing`` the
    decoder starts from <s> as the homework's does: fairseq feeds </s> as the first input
    (and nowhere else), so every </s> input is read as <s>.
    """

    def __init__(self, dictionary, embed_size, hidden_size, dropout, max_target_positions,
                 attention="multiplicative", a4_framing=False):
        super().__init__(dictionary)
        self.hidden_size = hidden_size
        self.max_target_positions = max_target_positions
        self.a4_framing = a4_framing
        self.need_attn = True
        self.embed_tokens = nn.Embedding(len(dictionary), embed_size, padding_idx=dictionary.pad())
        self.cell = nn.LSTMCell(embed_size + hidden_size, hidden_size)
        self.attention = build_attention(attention, 2 * hidden_size, hidden_size)
        self.combined_output_projection = nn.Linear(3 * hidden_size, hidden_size, bias=False)
        self.dropout = nn.Dropout(dropout)
        self.target_vocab_projection = nn.Linear(hidden_size, len(dictionary), bias=False)

    def forward(self, prev_output_tokens, encoder_out, incremental_state=None, features_only=False, **kwargs):
        combined_outputs, extra = self.extract_features(prev_output_tokens, encoder_out, incremental_state)
        if features_only:
            return combined_outputs, extra
        return self.output_layer(combined_outputs), extra

    def extract_features(self, prev_output_tokens, encoder_out, incremental_state=None, **kwargs):
        """Run eqs (5)-(12) over ``prev_output_tokens``: returns o_1..o_T (B, T, h) and the attention."""
        state = self.get_incremental_state(incremental_state, "state")
        if state is None:
            state = self._initial_state(encoder_out)
        else:
            prev_output_tokens = prev_output_tokens[:, -1:]
        if self.a4_framing:
            eos = prev_output_tokens.eq(self.dictionary.eos())
            prev_output_tokens = prev_output_tokens.masked_fill(eos, self.dictionary.bos())
        h, c, o_prev, keys = state["h"], state["c"], state["o_prev"], state["keys"]
        enc_hiddens, enc_padding_mask = encoder_out["enc_hiddens"], encoder_out["enc_padding_mask"]

        combined_outputs, alphas = [], []
        for y_t in self.embed_tokens(prev_output_tokens).unbind(dim=1):
            ybar_t = torch.cat([y_t, o_prev], dim=1)  # eq (5)
            h, c = self.cell(ybar_t, (h, c))  # eq (6)
            a_t, alpha_t = self.attention(h, keys, enc_hiddens, enc_padding_mask)  # eqs (7)-(9)
            u_t = torch.cat([a_t, h], dim=1)  # eq (10)
            o_prev = self.dropout(torch.tanh(self.combined_output_projection(u_t)))  # eqs (11)-(12)
            combined_outputs.append(o_prev)
            alphas.append(alpha_t)

        if incremental_state is not None:
            self.set_incremental_state(
                incremental_state, "state",
                {"h": h, "c": c, "o_prev": o_prev, "keys": keys, SOURCE_ROWS: state[SOURCE_ROWS]},
            )
        attn = torch.stack(alphas, dim=1) if self.need_attn else None
        return torch.stack(combined_outputs, dim=1), {"attn": [attn]}

    def _initial_state(self, encoder_out):
        h0 = encoder_out["dec_init_h"]
        return {
            "h": h0,
            "c": encoder_out["dec_init_c"],
            "o_prev": h0.new_zeros(h0.size(0), self.hidden_size),  # o_0 = 0
            "keys": self.attention.project_keys(encoder_out["enc_hiddens"]),
            SOURCE_ROWS: encoder_out[SOURCE_ROWS],
        }

    def output_layer(self, features):
        """W_vocab o_t: the logits of eq (13); fairseq applies the (log-)softmax."""
        return self.target_vocab_projection(features)

    def reorder_incremental_state(self, incremental_state, new_order):
        state = self.get_incremental_state(incremental_state, "state")
        if state is None:
            return
        reordered = reorder_rows(state, new_order, per_sentence={"keys"})
        self.set_incremental_state(incremental_state, "state", reordered)

    def max_positions(self):
        return self.max_target_positions

    def make_generation_fast_(self, need_attn=False, **kwargs):
        self.need_attn = need_attn
