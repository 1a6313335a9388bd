"""The homework's beam search (homework/beam_search.py) against a reference: the search as the
starter code's NMT.beam_search defines it, written here plainly, one sentence at a time, every
live hypothesis re-decoded from scratch (no incremental state, no reordering):

    live = [(no words, score 0)]; completed = []
    for t = 1, 2, ... while fewer than k completed and t <= limit:
        candidates = score(hyp) + log P_t(w) for every live hyp and every word w, all together
        keep the top k - len(completed); those ending in </s> complete, the others live on
    nothing completed: the best live hypothesis, no </s>; results sorted by score, best first

Each batched run must give every sentence exactly the reference's hypotheses (same words in
the same order) with the same scores, for beams 1, 2, 5 and 10, short and long step limits,
sentences whose best first word is </s>, sentences where nothing completes, and batches that
mix them."""
import argparse

import pytest
import torch
from fairseq.models.lstm import LSTMModel
from fairseq.sequence_generator import SequenceGenerator

from conftest import PLUGIN, build_model, collate, make_dictionary, random_sentences
from cs224n_nmt_plugin.homework.beam_search import HomeworkBeamSearch
from cs224n_nmt_plugin.settings import BEAM, MAX_STEPS, TASK, decoding_options
from cs224n_nmt_plugin.tasks import CS224nTranslationTask

# The models run in float64, so that a batched and a one-row decoder agree far below the float32
# log-probabilities (fairseq's log-softmax is float32) that both searches add up in the same order.
SCORE_TOLERANCE = {"rel": 1e-6, "abs": 1e-6}


def reference_search(model, source, beam, limit):
    """The starter's beam search for one sentence (1-D tokens ending in </s>): a list of
    (words, summed log-probability), best first; words end with </s> where it completed. Each
    hypothesis carries its own decoder state (a dict copied from its parent's)."""
    eos = model.decoder.dictionary.eos()
    with torch.no_grad():
        encoder_out = model.encoder(source.unsqueeze(0), torch.tensor([len(source)]))

        def decoded(words, parent_state):
            state = dict(parent_state)
            output = model.decoder(torch.tensor([[eos] + words]), encoder_out, incremental_state=state)
            return model.get_normalized_probs(output, log_probs=True)[0, -1], state

        live, completed, t = [([], 0.0, {})], [], 0
        while len(completed) < beam and t < limit:
            t += 1
            steps = [decoded(words, state) for words, _, state in live]
            scores = torch.stack([score + log_probs for (_, score, _), (log_probs, _) in zip(live, steps)])
            vocabulary = scores.size(1)
            top_scores, top_positions = scores.view(-1).topk(beam - len(completed))
            next_live = []
            for score, position in zip(top_scores.tolist(), top_positions.tolist()):
                hypothesis, word = divmod(position, vocabulary)
                words = live[hypothesis][0] + [word]
                if word == eos:
                    completed.append((words, score))
                else:
                    next_live.append((words, score, steps[hypothesis][1]))
            live = next_live
    if not completed:
        completed = [live[0][:2]]
    return sorted(completed, key=lambda hypothesis: hypothesis[1], reverse=True)


def batched_search(model, batch, beam, limit):
    generator = HomeworkBeamSearch([model], model.decoder.dictionary, beam_size=beam, max_len_a=0, max_len_b=limit)
    return generator.generate([model], batch)


def assert_same_as_the_reference(model, sources, batch, beam, limit):
    """Every sentence of ``batch`` (made from ``sources``; fairseq's collater orders the rows by
    length, batch["id"] maps them back) searched in one batch equals the reference's search of
    that sentence alone; returns the reference results, in the batch's row order."""
    found = batched_search(model, batch, beam, limit)
    references = []
    for row, hypotheses in enumerate(found):
        expected = reference_search(model, sources[int(batch["id"][row])], beam, limit)
        references.append(expected)
        assert [h["tokens"].tolist() for h in hypotheses] == [words for words, _ in expected], f"sentence {row}"
        for hypothesis, (words, score) in zip(hypotheses, expected):
            assert float(hypothesis["score"]) == pytest.approx(score, **SCORE_TOLERANCE)
            assert len(hypothesis["positional_scores"]) == len(words)
            assert float(hypothesis["positional_scores"].sum()) == pytest.approx(score, **SCORE_TOLERANCE)
    return references


def peaked_model(seed, target_words=8, scale=20.0, **model_args):
    """A random cs224n_nmt model with predictions far more peaked than at initialization, and an
    </s> row of W_vocab near a word's, so that hypotheses end at many different steps. (Near, not
    equal: equal rows tie </s> with that word at every step, and searches may break ties apart.)"""
    torch.manual_seed(seed)
    src_dict, tgt_dict = make_dictionary(12), make_dictionary(target_words)
    model = build_model(src_dict, tgt_dict, embed_size=6, hidden_size=5, **model_args).double().eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.mul_(scale)
        projection = model.decoder.target_vocab_projection.weight
        word = projection[tgt_dict.nspecial + 1]
        projection[tgt_dict.eos()] = word + 0.1 * word.abs().mean() * torch.randn_like(word)
    return model, src_dict, tgt_dict


def sources_and_batch(src_dict, tgt_dict, seed, lengths):
    generator = torch.Generator().manual_seed(seed)
    sources = random_sentences(generator, src_dict, lengths)
    return sources, collate(src_dict, tgt_dict, sources, sources_to_targets(sources, tgt_dict))


def sources_to_targets(sources, tgt_dict):
    """Targets are not read by the search; collate wants some."""
    return [torch.tensor([tgt_dict.nspecial, tgt_dict.eos()]) for _ in sources]


@pytest.mark.parametrize("beam", [1, 2, 5, 10])
@pytest.mark.parametrize("limit", [3, 70])
def test_every_sentence_is_searched_as_the_reference_searches_it(beam, limit):
    model, src_dict, tgt_dict = peaked_model(seed=4)
    sources, batch = sources_and_batch(src_dict, tgt_dict, seed=2, lengths=[3, 7, 1, 5, 4, 6, 2, 5])
    references = assert_same_as_the_reference(model, sources, batch, beam, limit)
    eos = tgt_dict.eos()
    completed_lengths = {len(words) for hypotheses in references for words, _ in hypotheses if words[-1] == eos}
    stopped_at_the_limit = [hypotheses for hypotheses in references if hypotheses[0][0][-1] != eos]
    assert all(len(hypotheses) == 1 and len(hypotheses[0][0]) == limit for hypotheses in stopped_at_the_limit)
    if beam == 5 and limit == 70:  # the batch mixes what the search must get right
        assert len(completed_lengths) >= 4 and stopped_at_the_limit
        assert any(hypotheses[0][0] == [eos] for hypotheses in references)  # the empty translation first
    if limit == 3 and beam <= 5:
        assert stopped_at_the_limit


@pytest.mark.parametrize("model_args", [{"attention": "dot"}, {"attention": "additive"}, {"a4_framing": True}],
                         ids=["dot", "additive", "a4-framing"])
def test_the_attention_variants_and_the_homeworks_framing_search_as_the_reference(model_args):
    model, src_dict, tgt_dict = peaked_model(seed=3, **model_args)
    sources, batch = sources_and_batch(src_dict, tgt_dict, seed=4, lengths=[4, 2, 6, 3])
    assert_same_as_the_reference(model, sources, batch, beam=5, limit=12)


def model_with_eos_first(seed_range=range(200)):
    """A peaked model and sources for which </s> is the best first word of some sentences and not
    of others (searched over seeds, and checked)."""
    for seed in seed_range:
        model, src_dict, tgt_dict = peaked_model(seed=seed)
        sources, batch = sources_and_batch(src_dict, tgt_dict, seed=seed, lengths=[2, 5, 3, 6, 4, 1])
        with torch.no_grad():
            first = model.get_normalized_probs(model(**{**batch["net_input"], "prev_output_tokens":
                                                        batch["net_input"]["prev_output_tokens"][:, :1]}),
                                               log_probs=True)[:, 0]
        eos_first = first.argmax(dim=1).eq(tgt_dict.eos())
        if 0 < int(eos_first.sum()) < len(sources):  # (in the batch's row order)
            return model, tgt_dict, sources, batch, eos_first.tolist()
    raise AssertionError("no seed gives a model whose best first word is </s> for some sentences")


def test_the_empty_translation_when_eos_is_the_best_first_word():
    """The homework's search completes </s> as a first word, and it is then the best hypothesis:
    every later word only lowers a score."""
    model, tgt_dict, sources, batch, eos_first = model_with_eos_first()
    references = assert_same_as_the_reference(model, sources, batch, beam=5, limit=10)
    assert all(hypotheses[0][0] == [tgt_dict.eos()] for hypotheses, first in zip(references, eos_first) if first)


def generator_built_by_the_task(model, options):
    """The generator that fairseq-generate builds from the plugin's task and these options."""
    from fairseq import options as fairseq_options

    parser = fairseq_options.get_generation_parser(default_task=TASK)
    args = fairseq_options.parse_args_and_arch(parser, ["data-bin", "--user-dir", PLUGIN, *options])
    task = CS224nTranslationTask(args, model.encoder.dictionary, model.decoder.dictionary)
    return task.build_generator([model], args)


def test_the_documented_flags_build_the_homeworks_search_and_fairseqs_beam_allowing_the_empty_translation():
    model, tgt_dict, sources, batch, eos_first = model_with_eos_first()
    homework = generator_built_by_the_task(model, decoding_options("homework"))
    assert isinstance(homework, HomeworkBeamSearch) and homework.beam_size == BEAM
    assert homework.max_len_a == 0 and homework.max_len_b == MAX_STEPS

    def best(generator):
        return [hypotheses[0]["tokens"].tolist() for hypotheses in generator.generate([model], batch)]

    fairseq_options = decoding_options("fairseq")
    fairseq_beam = generator_built_by_the_task(model, fairseq_options)
    assert isinstance(fairseq_beam, SequenceGenerator) and not fairseq_beam.normalize_scores
    empty = [tgt_dict.eos()]
    assert all(tokens == empty for tokens, first in zip(best(fairseq_beam), eos_first) if first)
    at = fairseq_options.index("--min-len")
    fairseqs_default = generator_built_by_the_task(model, fairseq_options[:at] + fairseq_options[at + 2:])
    assert all(tokens != empty for tokens in best(fairseqs_default))  # --min-len 1 forbids it


def test_a_sentence_where_nothing_completes_returns_its_best_live_hypothesis():
    """W_vocab's </s> row set to zero among large rows: with many words of large positive logit,
    </s> is never among the top k, every sentence runs to the limit and returns one hypothesis of
    exactly ``limit`` words, without </s>, scored without it."""
    model, src_dict, tgt_dict = peaked_model(seed=5, target_words=60)
    with torch.no_grad():
        model.decoder.target_vocab_projection.weight[tgt_dict.eos()] = 0
    sources, batch = sources_and_batch(src_dict, tgt_dict, seed=6, lengths=[3, 6, 2])
    for limit in (4, 70):
        references = assert_same_as_the_reference(model, sources, batch, beam=5, limit=limit)
        for hypotheses in references:
            assert len(hypotheses) == 1 and len(hypotheses[0][0]) == limit
            assert tgt_dict.eos() not in hypotheses[0][0]


def test_a_batch_mixing_empty_translations_limits_and_completions():
    """One batch holding sentences whose best is the empty translation, sentences that complete
    and sentences stopped at the limit: each as the reference searches it alone."""
    model, tgt_dict, sources, batch, eos_first = model_with_eos_first()
    references = assert_same_as_the_reference(model, sources, batch, beam=3, limit=4)
    kinds = set()
    for hypotheses in references:
        words = hypotheses[0][0]
        kinds.add("empty" if words == [tgt_dict.eos()] else "completed" if words[-1] == tgt_dict.eos() else "limit")
    assert {"empty", "limit"} <= kinds


def test_fairseqs_lstm_is_searched_as_the_reference_searches_it():
    """The search runs on any fairseq encoder-decoder with an incremental decoder: fairseq's own
    lstm (compare.py decodes both models with it)."""
    torch.manual_seed(7)
    src_dict, tgt_dict = make_dictionary(12), make_dictionary(8)
    args = argparse.Namespace(encoder_embed_dim=6, encoder_hidden_size=5, encoder_bidirectional=True,
                              decoder_embed_dim=6, decoder_hidden_size=5, decoder_out_embed_dim=5,
                              encoder_layers=1, decoder_layers=1, dropout=0.0, criterion="cross_entropy")
    from fairseq.models.lstm import base_architecture

    base_architecture(args)
    model = LSTMModel.build_model(args, TinyTranslationTask(src_dict, tgt_dict)).double().eval()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.mul_(8)
    sources, batch = sources_and_batch(src_dict, tgt_dict, seed=8, lengths=[3, 5, 2, 4])
    assert_same_as_the_reference(model, sources, batch, beam=4, limit=8)


class TinyTranslationTask:
    def __init__(self, source_dictionary, target_dictionary):
        self.source_dictionary, self.target_dictionary = source_dictionary, target_dictionary
        self.src_dict, self.tgt_dict = source_dictionary, target_dictionary


def test_an_ensemble_of_a_model_with_itself_searches_as_the_model_alone():
    """The search takes its log-probabilities from fairseq's EnsembleModel, which averages the
    probabilities of several models: the same model twice gives the model's own search."""
    model, src_dict, tgt_dict = peaked_model(seed=4)
    sources, batch = sources_and_batch(src_dict, tgt_dict, seed=2, lengths=[3, 7, 1, 5, 4, 6, 2, 5])
    alone = HomeworkBeamSearch([model], tgt_dict, beam_size=5, max_len_a=0, max_len_b=20).generate([model], batch)
    twice = HomeworkBeamSearch([model, model], tgt_dict, beam_size=5, max_len_a=0, max_len_b=20).generate(
        [model, model], batch)
    assert [[h["tokens"].tolist() for h in hypotheses] for hypotheses in twice] == [
        [h["tokens"].tolist() for h in hypotheses] for hypotheses in alone]
    for hypotheses, expected in zip(twice, alone):
        for hypothesis, reference in zip(hypotheses, expected):
            assert float(hypothesis["score"]) == pytest.approx(float(reference["score"]), **SCORE_TOLERANCE)
