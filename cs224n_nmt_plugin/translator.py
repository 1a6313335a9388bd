"""A trained cs224n_nmt checkpoint as a translator of raw Spanish lines, for the tools that
translate inside Python (the report's --checkpoint, the translation server).

It decodes as scripts/translate.sh and translate_file.sh do, with the homework's beam search
(settings.decoding_summary), the corpus's own pre- and post-processing (the recipe in
DATA_BIN/text/prepare.json, the word recipe without one), a line of more than MAX_TOKENS tokens cut
to its first MAX_TOKENS. Every hypothesis keeps the soft attention alpha_t (eq 8) the decoder
computed while generating it.
"""
from dataclasses import dataclass
from pathlib import Path

from cs224n_nmt_plugin.errors import InputError, brief
from cs224n_nmt_plugin.settings import decoding_arguments
from cs224n_nmt_plugin.text import prepare
from cs224n_nmt_plugin.text.translation_io import encode_for_data_bin, recipe_of_data_bin, truncate_long_lines


@dataclass(frozen=True)
class Hypothesis:
    text: str  # a4 text
    tokens: list  # the target tokens the model produced, ending with </s>
    score: float  # summed log-probability (natural log)
    attention: object  # a numpy array (target tokens, source tokens); each row sums to 1


@dataclass(frozen=True)
class Translation:
    source_tokens: list  # the encoded source as the model reads it, ending with </s>
    unknown: list  # for each source token: True where the dictionary maps it to <unk>
    cut: bool  # the line had more than MAX_TOKENS (text/tokens.py) tokens and was cut
    hypotheses: list  # Hypothesis, best first


class Translator:
    """``Translator(checkpoint, data_bin)`` loads the model through fairseq's hub interface, its
    generator the homework's beam search (the plugin's task; ``search="fairseq"`` for fairseq's)."""

    def __init__(self, checkpoint, data_bin, device=None, search="homework"):
        from cs224n_nmt_plugin.models import CS224nNMTModel

        checkpoint = Path(checkpoint).resolve()
        if not checkpoint.is_file():
            raise InputError(checkpoint, "missing or not a file")
        try:
            self.hub = CS224nNMTModel.from_pretrained(
                str(checkpoint.parent), checkpoint_file=checkpoint.name,
                data_name_or_path=str(Path(data_bin).resolve()), search=search,
                print_alignment="hard",  # keeps the decoder's attention in the hypotheses
            )
        except Exception as error:  # torch and fairseq fail in many ways on other files
            raise InputError(checkpoint, f"cannot load as a cs224n_nmt checkpoint ({brief(error)})") from None
        if device is not None:
            self.hub.to(device)
        self.hub.eval()
        self.search = search
        self.data_bin = Path(data_bin)
        self.recipe = recipe_of_data_bin(data_bin)

    def translate(self, lines, nbest=1):
        """A Translation of each raw Spanish line, with its ``nbest`` best hypotheses (no more than
        the search completes: at most the beam's)."""
        encoded, cut = truncate_long_lines(encode_for_data_bin(lines, self.data_bin))
        cut = set(cut)
        tokens = [self.hub.encode(line) for line in encoded]
        results = self.hub.generate(tokens, **decoding_arguments(self.search))
        dictionary = self.hub.src_dict
        return [
            Translation(
                source_tokens=line.split() + [dictionary[dictionary.eos()]],  # as fairseq's encode_line splits it
                unknown=[index == dictionary.unk() for index in source.tolist()],
                cut=number in cut,
                hypotheses=[self._hypothesis(hypo, len(source)) for hypo in hypos[:nbest]],
            )
            for number, (line, source, hypos) in enumerate(zip(encoded, tokens, results), start=1)
        ]

    def _hypothesis(self, hypo, source_length):
        return Hypothesis(
            text=prepare.postprocess_hypothesis(self.hub.string(hypo["tokens"]), self.recipe),
            tokens=[self.hub.tgt_dict[index] for index in hypo["tokens"]],
            score=float(hypo["score"]),
            attention=self._source_side_attention(hypo["attention"], source_length),
        )

    def _source_side_attention(self, attention, source_length):
        """fairseq's generator gives a hypothesis's attention as (padded source, target), padded
        like ``src_tokens``: the (target, source) weights without the batch's padding."""
        if self.hub.task.cfg.left_pad_source:
            attention = attention[attention.size(0) - source_length:]
        else:
            attention = attention[:source_length]
        return attention.t().float().numpy()
