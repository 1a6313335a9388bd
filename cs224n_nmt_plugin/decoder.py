"""The a4 decoder: an input-feeding LSTM cell with attention, eqs (5)-(13)."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from fairseq.models import FairseqIncrementalDecoder

from cs224n_nmt_plugin.attention import build_attention
from cs224n_nmt_plugin.batch_rows import SOURCE_ROWS, first_step_rows, reorder_rows
from cs224n_nmt_plugin.decoder_recurrence import decoder_recurrence


class CS224nDecoder(FairseqIncrementalDecoder):
    """Teacher-forced over a whole target prefix in training, one step at a time in
    generation. The steps run in decoder_recurrence.py (with a hand-written backward pass).
    The incremental state holds h_t^dec, c_t^dec, o_t and the per-sentence attention keys and
    values, so every step continues exactly where the last one stopped.

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
        # set by make_generation_fast_; a buffer so that .to() and .half() move it, not saved
        self.register_buffer("vocab_weight_transposed", None, persistent=False)
        self.embed_tokens = nn.Embedding(len(dictionary), embed_size, padding_idx=dictionary.pad())
        # Holds eq (6)'s weights in torch's LSTMCell layout (the starter's names); the steps
        # themselves run in decoder_recurrence.py.
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
            if incremental_state is not None:
                shared = first_step_rows(encoder_out[SOURCE_ROWS], prev_output_tokens)
                if shared is not None:
                    return self._first_step_once_per_sentence(prev_output_tokens, encoder_out, incremental_state, *shared)
            state = self._initial_state(encoder_out)
        else:
            prev_output_tokens = prev_output_tokens[:, -1:]
        if self.a4_framing:
            eos = prev_output_tokens.eq(self.dictionary.eos())
            prev_output_tokens = prev_output_tokens.masked_fill(eos, self.dictionary.bos())

        # The LSTM cell's weights, split as decoder_recurrence.py uses them: W_ih = [W_y W_o].
        w_y, w_o = self.cell.weight_ih.split([self.embed_tokens.embedding_dim, self.hidden_size], dim=1)
        y = self.embed_tokens(prev_output_tokens).transpose(0, 1)  # (T, B, e)
        input_gates = F.linear(y, w_y, self.cell.bias_ih + self.cell.bias_hh)  # W_y y_t + b, eq (6), all steps
        dropout_mask = self.dropout(y.new_ones(y.size(0), y.size(1), self.hidden_size)) if self.training else None
        outputs, alphas, h, c = decoder_recurrence(
            self.attention, input_gates, state["h"], state["c"], state["o_prev"],
            torch.cat([w_o, self.cell.weight_hh], dim=1), state["keys"], state["values"],
            encoder_out["enc_padding_mask"], self._output_weights()[1], dropout_mask,
        )
        if incremental_state is not None:
            self.set_incremental_state(incremental_state, "state", {**state, "h": h, "c": c, "o_prev": outputs[-1]})
        attn = alphas.transpose(0, 1) if self.need_attn else None
        return outputs.transpose(0, 1), {"attn": [attn]}

    def _first_step_once_per_sentence(self, prev_output_tokens, encoder_out, incremental_state, representatives,
                                      copies):
        """Beam search starts with beam-size identical rows per sentence: the first step (the
        attention keys and values included) is computed once per sentence and copied."""
        one_per_sentence = reorder_rows(encoder_out, representatives, per_sentence=())
        outputs, extra = self.extract_features(prev_output_tokens[representatives], one_per_sentence, incremental_state)
        self.reorder_incremental_state(incremental_state, copies)
        attn = extra["attn"][0]
        return outputs[copies], {"attn": [None if attn is None else attn[copies]]}

    def _output_weights(self):
        """W_u = [W_ua W_uh] of eq (11): the parts applied to a_t (2h) and to h_t (h)."""
        return self.combined_output_projection.weight.split([2 * self.hidden_size, self.hidden_size], dim=1)

    def _initial_state(self, encoder_out):
        h0, enc_hiddens = encoder_out["dec_init_h"], encoder_out["enc_hiddens"]
        return {
            "h": h0,
            "c": encoder_out["dec_init_c"],
            "o_prev": h0.new_zeros(h0.size(0), self.hidden_size),  # o_0 = 0
            "keys": self.attention.project_keys(enc_hiddens),  # per sentence, eq (7)
            "values": F.linear(enc_hiddens, self._output_weights()[0]),  # W_ua h_i^enc, per sentence, eqs (9)-(11)
            SOURCE_ROWS: encoder_out[SOURCE_ROWS],
        }

    def output_layer(self, features):
        """W_vocab o_t: the logits of eq (13); fairseq applies the (log-)softmax."""
        if self.vocab_weight_transposed is not None:
            rows = features.reshape(-1, features.size(-1))  # a 2-D product: torch.matmul of 3-D by 2-D is slower
            return (rows @ self.vocab_weight_transposed).view(*features.shape[:-1], -1)
        return self.target_vocab_projection(features)

    def reorder_incremental_state(self, incremental_state, new_order):
        state = self.get_incremental_state(incremental_state, "state")
        if state is None:
            return
        reordered = reorder_rows(state, new_order, per_sentence={"keys", "values"})
        self.set_incremental_state(incremental_state, "state", reordered)

    def max_positions(self):
        return self.max_target_positions

    def make_generation_fast_(self, need_attn=False, **kwargs):
        """fairseq calls this once before generating (fairseq-generate, -interactive, the hub);
        the model is then frozen (fairseq forbids training it again)."""
        self.need_attn = need_attn
        # W_vocab^T stored contiguously: on CPU the product with a beam's or a greedy batch's
        # few hundred rows is 15-30% faster than with W_vocab as stored.
        self.vocab_weight_transposed = self.target_vocab_projection.weight.detach().t().contiguous()
