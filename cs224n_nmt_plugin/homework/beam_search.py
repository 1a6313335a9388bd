"""The starter code's beam search (``NMT.beam_search``) as a fairseq generator, batched.

For one sentence, with beam size k and a step limit (the starter's max_decoding_time_step):

    live = [<s>], score 0; completed = []
    for t = 1, 2, ... while fewer than k completed and t <= the limit:
        one decoder step for every live hypothesis                       eqs (5)-(13)
        candidates: score(hyp) + log P_t(w) for every live hypothesis and every target word w
        keep the top (k - number completed) candidates over all of them together
        a kept candidate whose word is </s> is completed (its score counts </s>);
        the others are the next live hypotheses
    nothing completed: the best live hypothesis, its words without </s>, scored without one
    results sorted by score, best first

Unlike fairseq's SequenceGenerator it keeps only k - (number completed) live hypotheses, forbids
no word (</s> may come first, <pad> and <unk> may be chosen) and counts the </s> step against the
limit. Hypotheses are ranked by summed log-probability (the starter's), whatever fairseq's
--unnormalized says.

Every sentence of a batch runs its own shrinking beam: the live hypotheses of all sentences are
the rows of one decoder batch, grouped by sentence in batch order, and fairseq's
``reorder_incremental_state`` and ``reorder_encoder_out`` carry each row's decoder state to the
rows of its continuations. The first step runs one row per sentence, as the starter's does.
"""
from dataclasses import dataclass

import torch
import torch.nn as nn
from fairseq import utils
from fairseq.sequence_generator import EnsembleModel

ALIGNMENTS = {"hard": utils.extract_hard_alignment, "soft": utils.extract_soft_alignment}


@dataclass
class Candidates:
    """Continuations of live hypotheses: for each, the row it continues and its next word."""

    rows: torch.Tensor  # the live hypothesis (decoder row) each continues
    words: torch.Tensor
    log_probs: torch.Tensor  # log P_t(word)
    sentence: torch.Tensor  # the batch row of its sentence

    def select(self, index):
        return Candidates(self.rows[index], self.words[index], self.log_probs[index], self.sentence[index])


@dataclass
class LiveHypotheses:
    """The live hypotheses of every unfinished sentence, one decoder row each, grouped by sentence.

    sentence   (N,)        the batch row of each hypothesis's sentence (non-decreasing)
    tokens     (N, t + 1)  the start symbol and the t words so far
    scores     (N,)        summed log-probability of the words
    positional (N, t)      the log-probability of each word
    attention  (N, t, S)   alpha of each step (eq 8), or None where the decoder returns none
    """

    sentence: torch.Tensor
    tokens: torch.Tensor
    scores: torch.Tensor
    positional: torch.Tensor
    attention: torch.Tensor | None

    @classmethod
    def start(cls, sentences, start_symbol, device):
        """One hypothesis of no words for each of the batch's ``sentences``."""
        return cls(sentence=torch.arange(sentences, device=device),
                   tokens=torch.full((sentences, 1), start_symbol, device=device),
                   scores=torch.zeros(sentences, device=device), positional=torch.zeros(sentences, 0, device=device),
                   attention=None)

    def select(self, index):
        return LiveHypotheses(self.sentence[index], self.tokens[index], self.scores[index], self.positional[index],
                              None if self.attention is None else self.attention[index])

    def continued(self, candidates, step_attention):
        """The hypotheses that ``candidates`` continue, each extended by its word."""
        rows = candidates.rows
        attention = None
        if step_attention is not None:
            step_attention = step_attention[rows].unsqueeze(1)
            attention = step_attention if self.attention is None else torch.cat(
                [self.attention[rows], step_attention], dim=1)
        return LiveHypotheses(
            sentence=candidates.sentence,
            tokens=torch.cat([self.tokens[rows], candidates.words.unsqueeze(1)], dim=1),
            scores=self.scores[rows] + candidates.log_probs,
            positional=torch.cat([self.positional[rows], candidates.log_probs.unsqueeze(1)], dim=1),
            attention=attention,
        )


def top_candidates(row_log_probs, row_words, live, wanted):
    """For every sentence of the live rows, its top ``wanted[sentence]`` continuations over all of
    its hypotheses x all words, by score(hyp) + log P_t(w): Candidates grouped by sentence, best
    first within each.

    row_log_probs, row_words (N, K): each live row's K best next words, best first, K at least
    the largest number wanted (a sentence's top w continuations are among the top w words of each
    of its rows); wanted (B,) for every sentence of the batch. Every sentence chooses among its
    rows' candidates laid out on one (sentences, rows x K) grid padded with -inf.
    """
    device, top = row_log_probs.device, row_log_probs.size(1)
    sentences, rows_per_sentence = torch.unique_consecutive(live.sentence, return_counts=True)
    wanted = wanted[sentences]
    first_row = torch.cumsum(rows_per_sentence, 0) - rows_per_sentence
    group = torch.searchsorted(sentences, live.sentence)
    slot = torch.arange(len(live.sentence), device=device) - first_row[group]
    grid = row_log_probs.new_full((len(sentences), int(rows_per_sentence.max()) * top), float("-inf"))
    grid[group.unsqueeze(1), (slot * top).unsqueeze(1) + torch.arange(top, device=device)] = (
        row_log_probs + live.scores.unsqueeze(1))
    _, position = grid.topk(top, dim=1)  # (sentences, K), best first

    kept_group, rank = (torch.arange(top, device=device) < wanted.unsqueeze(1)).nonzero(as_tuple=True)
    position = position[kept_group, rank]
    rows = first_row[kept_group] + torch.div(position, top, rounding_mode="floor")
    column = position % top
    return Candidates(rows=rows, words=row_words[rows, column], log_probs=row_log_probs[rows, column],
                      sentence=sentences[kept_group])


class HomeworkBeamSearch(nn.Module):
    """``HomeworkBeamSearch(models, tgt_dict, beam_size, max_len_a, max_len_b)``: fairseq's
    generator interface (``generate(models, sample)``), as the task's build_generator returns it.

    A sentence's step limit is ``max_len_a * (its source length) + max_len_b`` (the source length
    as fairseq counts it, with </s>; ``--max-len-a 0 --max-len-b 70`` is the starter's 70 for every
    sentence), at most the model's max_decoder_positions. ``print_alignment`` ("hard" or "soft")
    fills each hypothesis's "alignment" from the attention of the steps that chose its words.
    """

    def __init__(self, models, tgt_dict, beam_size=5, max_len_a=0, max_len_b=70, print_alignment=None):
        super().__init__()
        self.model = models if isinstance(models, EnsembleModel) else EnsembleModel(models)
        self.model.eval()
        if not 1 <= beam_size <= len(tgt_dict):
            raise ValueError(f"the beam size must be from 1 to the target vocabulary's {len(tgt_dict)}, "
                             f"not {beam_size}")
        self.beam_size = beam_size
        self.max_len_a, self.max_len_b = max_len_a, max_len_b
        self.pad, self.eos = tgt_dict.pad(), tgt_dict.eos()
        self.symbols_to_strip_from_output = {self.eos}  # fairseq's tools read it
        self.extract_alignment = ALIGNMENTS.get(print_alignment)

    @torch.no_grad()
    def generate(self, models, sample, prefix_tokens=None, constraints=None, bos_token=None):
        """A list of hypotheses, best first, for every sentence of ``sample`` (fairseq's format:
        dicts of tokens, score, positional_scores, attention and alignment)."""
        if prefix_tokens is not None or constraints is not None:
            raise ValueError("the homework's beam search takes no prefix tokens and no constraints")
        net_input = sample["net_input"]
        src_tokens = net_input["src_tokens"]
        limits = self._step_limits(net_input["src_lengths"])
        results = [[] for _ in range(len(src_tokens))]
        completed = torch.zeros(len(src_tokens), dtype=torch.long, device=src_tokens.device)
        encoder_outs = self.model.forward_encoder(net_input)
        incremental_states = [{} for _ in range(self.model.models_size)]
        live = LiveHypotheses.start(len(src_tokens), self.eos if bos_token is None else bos_token, src_tokens.device)
        if (limits <= 0).any():  # no step at all: the empty translation
            self._end_at_the_limit(results, live.select(limits <= 0), src_tokens)
            live = live.select(limits > 0)
            encoder_outs = self.model.reorder_encoder_out(encoder_outs, live.sentence)
        step = 0
        while len(live.sentence):
            step += 1
            wanted = self.beam_size - completed
            row_log_probs, row_words, step_attention = self._top_words(
                live.tokens, encoder_outs, incremental_states, int(wanted[live.sentence].max()))
            chosen = top_candidates(row_log_probs, row_words, live, wanted)
            ended = chosen.words.eq(self.eos)
            if ended.any():
                self._complete(results, completed, live.continued(chosen.select(ended), step_attention), src_tokens)
            going_on = chosen.select(~ended)
            at_limit = limits[going_on.sentence] <= step
            if at_limit.any():
                self._end_at_the_limit(results, live.continued(going_on.select(at_limit), step_attention), src_tokens)
            going_on = going_on.select(~at_limit)
            live = live.continued(going_on, step_attention)
            if len(going_on.rows):
                self.model.reorder_incremental_state(incremental_states, going_on.rows)
                encoder_outs = self.model.reorder_encoder_out(encoder_outs, going_on.rows)
        # Sorted as the starter sorts them (Python's stable sort: equal scores keep their order).
        return [sorted(hypotheses, key=lambda h: float(h["score"]), reverse=True) for hypotheses in results]

    def _top_words(self, tokens, encoder_outs, incremental_states, top):
        """One decoder step for every live row (fairseq's EnsembleModel: the log-softmax of one
        model, the averaged probabilities of several): each row's ``top`` best next words'
        log-probabilities and ids (N, top), best first, and the step's attention (N, S) or None."""
        log_probs, attention = self.model.forward_decoder(tokens, encoder_outs, incremental_states)
        return (*log_probs.topk(top, dim=1), attention)

    def _step_limits(self, src_lengths):
        limits = (self.max_len_a * src_lengths.float() + self.max_len_b).long()
        return limits.clamp(max=self.model.max_decoder_positions())

    def _complete(self, results, completed, ended, src_tokens):
        """The hypotheses of ``ended`` (LiveHypotheses whose last word is </s>) join their
        sentences' results."""
        completed.index_add_(0, ended.sentence, torch.ones_like(ended.sentence))
        for row, sentence in enumerate(ended.sentence.tolist()):
            results[sentence].append(self._hypothesis(src_tokens[sentence], ended, row))

    def _end_at_the_limit(self, results, stopped, src_tokens):
        """At its step limit a sentence ends. With nothing completed, its best live hypothesis (the
        first of its rows in ``stopped``) is its one result, without </s>."""
        for row, sentence in enumerate(stopped.sentence.tolist()):
            if not results[sentence]:
                results[sentence].append(self._hypothesis(src_tokens[sentence], stopped, row))

    def _hypothesis(self, source, hypotheses, row):
        """fairseq's hypothesis dict of row ``row`` of ``hypotheses`` (LiveHypotheses), its
        attention stored as fairseq stores it, (S, words)."""
        tokens = hypotheses.tokens[row, 1:]
        attention = None if hypotheses.attention is None else hypotheses.attention[row]
        hypothesis = {
            "tokens": tokens,
            "score": hypotheses.scores[row],
            "positional_scores": hypotheses.positional[row],
            "attention": torch.empty(0) if attention is None else attention.t(),
            "alignment": torch.empty(0),
        }
        if self.extract_alignment is not None and attention is not None:
            hypothesis["alignment"] = self.extract_alignment(attention.float().cpu(), source.cpu(), tokens.cpu(),
                                                             self.pad, self.eos)
        return hypothesis
