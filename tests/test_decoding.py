"""Incremental decoding and beam search agree with teacher forcing, for every attention
variant and for the homework's framing."""
import pytest
import torch
from fairseq.sequence_generator import SequenceGenerator

from conftest import build_model, collate, make_dictionary, random_sentences

MODEL_VARIANTS = {
    "multiplicative": {"attention": "multiplicative"},
    "dot": {"attention": "dot"},
    "additive": {"attention": "additive"},
    "a4-framing": {"a4_framing": True},
}
each_model_variant = pytest.mark.parametrize("model_args", MODEL_VARIANTS.values(), ids=MODEL_VARIANTS.keys())


def random_model_and_batch(seed, model_args, tgt_words=8):
    generator = torch.Generator().manual_seed(seed)
    src_dict, tgt_dict = make_dictionary(12), make_dictionary(tgt_words)
    torch.manual_seed(seed)
    model = build_model(src_dict, tgt_dict, embed_size=6, hidden_size=5, **model_args).double().eval()
    with torch.no_grad():
        # Far wider weights than the init make the predictions peaked, and an </s> row
        # copied from a word's makes </s> likely: hypotheses then end at many different
        # steps, so that beam search reorders and shrinks its batch.
        for parameter in model.parameters():
            parameter.mul_(20)
        vocab_projection = model.decoder.target_vocab_projection.weight
        vocab_projection[tgt_dict.eos()] = vocab_projection[tgt_dict.nspecial + 1]
    sources = random_sentences(generator, src_dict, [3, 7, 1, 5, 4, 6])
    targets = random_sentences(generator, tgt_dict, [5, 2, 6, 4, 6, 3])
    return model, tgt_dict, collate(src_dict, tgt_dict, sources, targets)


@each_model_variant
def test_incremental_steps_equal_the_full_forward_pass(model_args):
    model, _, batch = random_model_and_batch(3, model_args)
    net_input = batch["net_input"]
    prev = net_input["prev_output_tokens"]
    with torch.no_grad():
        encoder_out = model.encoder(net_input["src_tokens"], net_input["src_lengths"])
        full_logits, full_extra = model.decoder(prev, encoder_out)
        incremental_state = {}
        for t in range(prev.size(1)):
            step_logits, step_extra = model.decoder(prev[:, : t + 1], encoder_out, incremental_state=incremental_state)
            assert step_logits.shape[1] == 1
            torch.testing.assert_close(step_logits[:, 0], full_logits[:, t], rtol=0, atol=1e-12)
            torch.testing.assert_close(step_extra["attn"][0][:, 0], full_extra["attn"][0][:, t], rtol=0, atol=1e-12)


@each_model_variant
def test_reordered_state_continues_the_reordered_sentences(model_args):
    model, _, batch = random_model_and_batch(4, model_args)
    net_input = batch["net_input"]
    prev = net_input["prev_output_tokens"]
    new_order = torch.tensor([2, 0, 0, 5, 1])
    with torch.no_grad():
        encoder_out = model.encoder(net_input["src_tokens"], net_input["src_lengths"])
        incremental_state = {}
        model.decoder(prev[:, :2], encoder_out, incremental_state=incremental_state)
        model.decoder.reorder_incremental_state(incremental_state, new_order)
        reordered_encoder_out = model.encoder.reorder_encoder_out(encoder_out, new_order)
        step, _ = model.decoder(prev[new_order, :3], reordered_encoder_out, incremental_state=incremental_state)
        full, _ = model.decoder(prev[new_order, :3], reordered_encoder_out)
    torch.testing.assert_close(step[:, 0], full[:, 2], rtol=0, atol=1e-12)


def teacher_forced_scores(model, src_tokens, src_lengths, hypothesis_tokens, eos):
    prev = torch.cat([torch.tensor([eos]), hypothesis_tokens[:-1]]).unsqueeze(0)
    with torch.no_grad():
        encoder_out = model.encoder(src_tokens.unsqueeze(0), src_lengths.view(1))
        log_probs = model.get_normalized_probs(model.decoder(prev, encoder_out), log_probs=True)
    return log_probs[0].gather(1, hypothesis_tokens.unsqueeze(1)).squeeze(1)


@each_model_variant
def test_every_beam_hypothesis_scores_as_teacher_forced(model_args):
    model, tgt_dict, batch = random_model_and_batch(3, model_args, tgt_words=6)
    generator = SequenceGenerator([model], tgt_dict, beam_size=5, max_len_b=12)
    with torch.no_grad():
        hypotheses = generator.generate([model], batch)
    net_input = batch["net_input"]
    lengths = {len(h["tokens"]) for hyps in hypotheses for h in hyps}
    assert len(lengths) > 3, "hypotheses should finish at different steps, so that beams get reordered"
    checked = 0
    for row, hyps in enumerate(hypotheses):
        assert len(hyps) == 5
        for hyp in hyps:
            expected = teacher_forced_scores(
                model, net_input["src_tokens"][row], net_input["src_lengths"][row], hyp["tokens"], tgt_dict.eos()
            )
            torch.testing.assert_close(hyp["positional_scores"], expected.float(), rtol=0, atol=1e-4)
            checked += 1
    assert checked == 5 * len(hypotheses)


def test_reordering_within_sentences_shares_per_sentence_tensors():
    """Beam reorders that keep every row with its sentence copy no encoder output, key or value;
    one that drops a sentence (it finished) selects them like the recurrent state."""
    model, _, batch = random_model_and_batch(4, {})
    net_input = batch["net_input"]
    beams = torch.arange(6).repeat_interleave(2)  # two hypotheses a sentence
    with torch.no_grad():
        encoded = model.encoder(net_input["src_tokens"], net_input["src_lengths"])
        encoder_out = model.encoder.reorder_encoder_out(encoded, beams)
        incremental_state = {}
        model.decoder(net_input["prev_output_tokens"][beams, :1], encoder_out, incremental_state=incremental_state)
    steps = model.decoder.get_incremental_state(incremental_state, "steps")

    within = torch.tensor([1, 1, 3, 2, 4, 5, 7, 6, 8, 8, 11, 10])
    assert model.encoder.reorder_encoder_out(encoder_out, within) is encoder_out
    model.decoder.reorder_incremental_state(incremental_state, within)
    kept = model.decoder.get_incremental_state(incremental_state, "steps")
    assert kept["memory"] is steps["memory"]
    assert torch.equal(kept["state"].h, steps["state"].h[within])

    finished = torch.tensor([2, 3, 5, 4])  # sentences 0, 3, 4 and 5 finished
    shrunk = model.encoder.reorder_encoder_out(encoder_out, finished)
    assert torch.equal(shrunk["enc_hiddens"], encoder_out["enc_hiddens"][finished])
    model.decoder.reorder_incremental_state(incremental_state, finished)
    selected = model.decoder.get_incremental_state(incremental_state, "steps")
    assert torch.equal(selected["memory"].keys, kept["memory"].keys[finished])
    assert torch.equal(selected["source_rows"], torch.tensor([1, 1, 2, 2]))


def test_generation_preparation_keeps_the_logits_and_the_saved_weights():
    """make_generation_fast_ (called by fairseq-generate, -interactive and the hub) prepares the
    output layer for decoding: the same logits and nothing new in the state dict."""
    model, _, batch = random_model_and_batch(4, {})
    saved = model.state_dict()
    with torch.no_grad():
        before, _ = model(**batch["net_input"])
        model.make_generation_fast_()
        after, _ = model(**batch["net_input"])
    torch.testing.assert_close(after, before, rtol=0, atol=1e-12)
    assert model.state_dict().keys() == saved.keys()
