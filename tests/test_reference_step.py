"""recurrence.py (the decoder's regrouped steps and hand-written backward pass) against the
handout's step in plain autograd (models/reference_step.py): the same outputs o_t, attention
alpha_t and final states, and the same gradient for every parameter and every encoder output,
with and without dropout masks, for every attention variant and the homework's framing."""
import pytest
import torch
import torch.nn as nn

from conftest import build_model, collate, make_dictionary, random_sentences
from cs224n_nmt_plugin.models.reference_step import reference_decoder

VARIANTS = {
    "multiplicative": {"attention": "multiplicative"},
    "dot": {"attention": "dot"},
    "additive": {"attention": "additive"},
    "a4-framing": {"a4_framing": True},
}


class GivenMasks(nn.Module):
    """Stands in for the decoder's FairseqDropout: the masks it would draw are these."""

    def __init__(self, masks):
        super().__init__()
        self.masks, self.p, self.apply_during_inference = masks, 0.5, False

    def forward(self, ones):
        assert ones.shape == self.masks.shape
        return self.masks


def model_and_inputs(seed, model_args):
    generator = torch.Generator().manual_seed(seed)
    src_dict, tgt_dict = make_dictionary(9), make_dictionary(7)
    torch.manual_seed(seed)
    model = build_model(src_dict, tgt_dict, embed_size=6, hidden_size=5, **model_args).double()
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.mul_(6)  # wide weights: every term of every equation matters
    sources = random_sentences(generator, src_dict, [4, 1, 6, 3])
    targets = random_sentences(generator, tgt_dict, [5, 2, 6, 3])
    batch = collate(src_dict, tgt_dict, sources, targets)
    with torch.no_grad():
        encoder_out = model.encoder(batch["net_input"]["src_tokens"], batch["net_input"]["src_lengths"])
    for name in ("enc_hiddens", "dec_init_h", "dec_init_c"):  # leaves, so that their gradients compare too
        encoder_out[name] = encoder_out[name].detach().requires_grad_()
    return model, batch["net_input"]["prev_output_tokens"], encoder_out


def gradients(model, encoder_out, outputs, final_h, final_c, weights):
    """d/d(every decoder parameter and encoder output) of a fixed random function of the outputs."""
    loss = (outputs * weights[0]).sum() + (final_h * weights[1]).sum() + (final_c * weights[2]).sum()
    leaves = [*model.decoder.parameters(), encoder_out["enc_hiddens"], encoder_out["dec_init_h"],
              encoder_out["dec_init_c"]]
    return torch.autograd.grad(loss, leaves, allow_unused=True)


@pytest.mark.parametrize("dropout", [False, True], ids=["no-dropout", "dropout-masks"])
@pytest.mark.parametrize("model_args", VARIANTS.values(), ids=VARIANTS.keys())
def test_the_recurrence_computes_the_reference_step_and_its_gradients(model_args, dropout):
    model, prev_output_tokens, encoder_out = model_and_inputs(11, model_args)
    decoder = model.decoder
    steps, batch = prev_output_tokens.t().shape
    masks = None
    if dropout:
        keep = torch.rand(steps, batch, decoder.hidden_size, generator=torch.Generator().manual_seed(3)) > 0.5
        masks = keep.double() / 0.5
        decoder.dropout = GivenMasks(masks)
        decoder.train()

    incremental_state = {}
    outputs, extra = decoder.extract_features(prev_output_tokens, encoder_out, incremental_state=incremental_state)
    state = decoder.get_incremental_state(incremental_state, "steps")["state"]
    expected_outputs, expected_alphas, expected_state = reference_decoder(decoder, prev_output_tokens, encoder_out,
                                                                          masks)
    torch.testing.assert_close(outputs, expected_outputs, rtol=0, atol=1e-12)
    torch.testing.assert_close(extra["attn"][0], expected_alphas, rtol=0, atol=1e-12)
    torch.testing.assert_close(state.h, expected_state.h, rtol=0, atol=1e-12)
    torch.testing.assert_close(state.c, expected_state.c, rtol=0, atol=1e-12)

    generator = torch.Generator().manual_seed(5)
    weights = [torch.randn(outputs.shape, generator=generator, dtype=torch.float64),
               torch.randn(state.h.shape, generator=generator, dtype=torch.float64),
               torch.randn(state.c.shape, generator=generator, dtype=torch.float64)]
    found = gradients(model, encoder_out, outputs, state.h, state.c, weights)
    expected = gradients(model, encoder_out, expected_outputs, expected_state.h, expected_state.c, weights)
    names = [name for name, _ in decoder.named_parameters()] + ["enc_hiddens", "dec_init_h", "dec_init_c"]
    compared = set()
    for name, gradient, reference in zip(names, found, expected):
        if reference is None:  # W_vocab: eq (13) comes after the steps
            assert gradient is None, name
            continue
        torch.testing.assert_close(gradient, reference, rtol=1e-9, atol=1e-10, msg=name)
        compared.add(name)
    assert {"embed_tokens.weight", "cell.weight_ih", "cell.weight_hh", "cell.bias_ih", "cell.bias_hh",
            "combined_output_projection.weight", "enc_hiddens", "dec_init_h", "dec_init_c"} <= compared
