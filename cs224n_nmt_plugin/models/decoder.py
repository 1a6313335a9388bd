"""The a4 decoder: an input-feeding LSTM cell with attention, eqs (5)-(13)."""
import torch
import torch.nn as nn
import torch.nn.functional as F
from fairseq.models import FairseqIncrementalDecoder
from fairseq.modules import FairseqDropout

from cs224n_nmt_plugin.models.attention import build_attention
from cs224n_nmt_plugin.models.beam_rows import SOURCE_ROWS, reorder, select_rows
from cs224n_nmt_plugin.models.recurrence import RecurrentState, SourceMemory, StepWeights, decoder_recurrence
from cs224n_nmt_plugin.models.vocab_projection import VocabProjection


class CS224nDecoder(FairseqIncrementalDecoder):
    """Teacher-forced over a whole target prefix in training, one step at a time in
    generation. The steps run in recurrence.py (with a hand-written backward pass). The
    incremental state holds the RecurrentState (h_t^dec, c_t^dec, o_t), the SourceMemory (the
    per-sentence attention keys and values) and each row's sentence, so every step continues
    exactly where the last one stopped.

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
                 attention="multiplicative", a4_framing=False, cpu_bf16=False):
        super().__init__(dictionary)
        self.hidden_size = hidden_size
        self.max_target_positions = max_target_positions
        self.a4_framing = a4_framing
        self.need_attn = True
        self.embed_tokens = nn.Embedding(len(dictionary), embed_size, padding_idx=dictionary.pad())
        # Holds eq (6)'s weights in torch's LSTMCell layout (the starter's names); the steps
        # themselves run in recurrence.py.
        self.cell = nn.LSTMCell(embed_size + hidden_size, hidden_size)
        self.attention = build_attention(attention, 2 * hidden_size, hidden_size)
        self.combined_output_projection = nn.Linear(3 * hidden_size, hidden_size, bias=False)
        # fairseq's dropout module: --retain-dropout (Monte-Carlo dropout in fairseq-generate,
        # -interactive and the hub) keeps it on at inference; --retain-dropout-modules names it
        # by this class's name.
        self.dropout = FairseqDropout(dropout, module_name=type(self).__name__)
        # eq (13); cpu_bf16 (--cpu-autocast): its product in bfloat16 in training (cpu_autocast.py)
        self.target_vocab_projection = VocabProjection(hidden_size, len(dictionary), cpu_bf16)

    def forward(self, prev_output_tokens, encoder_out, incremental_state=None, features_only=False, **kwargs):
        combined_outputs, extra = self.extract_features(prev_output_tokens, encoder_out, incremental_state)
        if features_only:  # o_t without eq (13)'s projection (criterions/a4_cross_entropy.py applies it)
            return combined_outputs, extra
        return self.output_layer(combined_outputs), extra

    def extract_features(self, prev_output_tokens, encoder_out, incremental_state=None, **kwargs):
        """Run eqs (5)-(12) over ``prev_output_tokens`` (B, T): returns o_1..o_T (B, T, h) and
        ``{"attn": [alpha]}``, alpha (B, T, S). With an incremental state only the last token is
        new: the steps before it are in the state."""
        cached = self.get_incremental_state(incremental_state, "steps")
        if cached is None:
            state, memory = self._initial_state(encoder_out), self._source_memory(encoder_out)
            rows = encoder_out[SOURCE_ROWS]
        else:
            state, memory, rows = cached["state"], cached["memory"], cached[SOURCE_ROWS]
            prev_output_tokens = prev_output_tokens[:, -1:]
        outputs, alphas, state = self._steps(prev_output_tokens, state, memory)
        if incremental_state is not None:
            self.set_incremental_state(incremental_state, "steps",
                                       {"state": state, "memory": memory, SOURCE_ROWS: rows})
        return outputs.transpose(0, 1), {"attn": [alphas.transpose(0, 1) if self.need_attn else None]}

    def _steps(self, prev_output_tokens, state, memory):
        """Eqs (5)-(12) for the tokens (B, T) from ``state``: o_1..o_T (T, B, h), alpha (T, B, S), the last state."""
        if self.a4_framing:
            eos = prev_output_tokens.eq(self.dictionary.eos())
            prev_output_tokens = prev_output_tokens.masked_fill(eos, self.dictionary.bos())
        # The LSTM cell's weights, split as recurrence.py applies them: W_ih = [W_y W_o].
        w_y, w_o = self.cell.weight_ih.split([self.embed_tokens.embedding_dim, self.hidden_size], dim=1)
        y = self.embed_tokens(prev_output_tokens).transpose(0, 1)  # (T, B, e)
        input_gates = F.linear(y, w_y, self.cell.bias_ih + self.cell.bias_hh)  # W_y y_t + b, eq (6), all steps
        weights = StepWeights(recurrent=torch.cat([w_o, self.cell.weight_hh], dim=1), output=self._output_weights()[1],
                              attention=self.attention)
        dropout_mask = None  # eq (12): a fresh mask for every step and row, when dropout is on
        if self.dropout.p > 0 and (self.training or self.dropout.apply_during_inference):
            dropout_mask = self.dropout(y.new_ones(y.size(0), y.size(1), self.hidden_size))
        return decoder_recurrence(input_gates, state, memory, weights, dropout_mask)

    def _output_weights(self):
        """W_u = [W_ua W_uh] of eq (11): the parts applied to a_t (2h) and to h_t (h)."""
        return self.combined_output_projection.weight.split([2 * self.hidden_size, self.hidden_size], dim=1)

    def _initial_state(self, encoder_out):
        h0 = encoder_out["dec_init_h"]
        return RecurrentState(h=h0, c=encoder_out["dec_init_c"], o=torch.zeros_like(h0))  # eqs (3)-(5), o_0 = 0

    def _source_memory(self, encoder_out):
        enc_hiddens = encoder_out["enc_hiddens"]
        return SourceMemory(
            keys=self.attention.project_keys(enc_hiddens),  # per sentence, eq (7)
            values=F.linear(enc_hiddens, self._output_weights()[0]),  # W_ua h_i^enc, per sentence, eqs (9)-(11)
            padding_mask=encoder_out["enc_padding_mask"],
        )

    def output_layer(self, features):
        """W_vocab o_t: the logits of eq (13) for features (..., h) (vocab_projection.py)."""
        return self.target_vocab_projection(features)

    def reorder_incremental_state(self, incremental_state, new_order):
        cached = self.get_incremental_state(incremental_state, "steps")
        if cached is None:
            return
        rows, same_sentences = reorder(cached[SOURCE_ROWS], new_order)
        self.set_incremental_state(incremental_state, "steps", {
            "state": select_rows(cached["state"], new_order),
            "memory": cached["memory"] if same_sentences else select_rows(cached["memory"], new_order),
            SOURCE_ROWS: rows,
        })

    def max_positions(self):
        return self.max_target_positions

    def make_generation_fast_(self, need_attn=False, **kwargs):
        """fairseq calls this once before generating (fairseq-generate, -interactive, the hub);
        the model is then frozen (fairseq forbids training it again)."""
        self.need_attn = need_attn
        self.target_vocab_projection.prepare_for_generation()
