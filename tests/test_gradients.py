"""The decoder's hand-written backward pass (models/recurrence.py) against finite differences:
first the recurrence alone, then the whole model's loss through every parameter it splits,
regroups or projects once per sentence."""
import pytest
import torch
from torch.func import functional_call

from conftest import build_model, collate, make_dictionary, random_sentences
from cs224n_nmt_plugin.models.attention import ATTENTIONS, build_attention
from cs224n_nmt_plugin.models.recurrence import RecurrentState, SourceMemory, StepWeights, decoder_recurrence

STEPS, BATCH, SOURCE, HIDDEN = 4, 3, 5, 4


def random_tensor(generator, *shape):
    return torch.randn(*shape, generator=generator, dtype=torch.float64).requires_grad_()


@pytest.mark.parametrize("attention_name", ATTENTIONS)
@pytest.mark.parametrize("dropout", [False, True], ids=["no-dropout", "dropout"])
def test_recurrence_gradients_match_finite_differences(attention_name, dropout):
    generator = torch.Generator().manual_seed(0)
    attention = build_attention(attention_name, 2 * HIDDEN, HIDDEN).double()
    padding_mask = torch.zeros(BATCH, SOURCE, dtype=torch.bool)
    padding_mask[0, 3:] = True  # right padding
    padding_mask[2, :2] = True  # left padding
    dropout_mask = None
    if dropout:
        dropout_mask = (torch.rand(STEPS, BATCH, HIDDEN, generator=generator) > 0.3).double() / 0.7
    inputs = (
        random_tensor(generator, STEPS, BATCH, 4 * HIDDEN),  # input gates
        *(random_tensor(generator, BATCH, HIDDEN) for _ in range(3)),  # h0, c0, o0
        random_tensor(generator, 4 * HIDDEN, 2 * HIDDEN),  # recurrent weight
        random_tensor(generator, BATCH, SOURCE, HIDDEN),  # keys
        random_tensor(generator, BATCH, SOURCE, HIDDEN),  # values
        random_tensor(generator, HIDDEN, HIDDEN),  # output weight
    )
    score_weights = tuple(w.detach().clone().requires_grad_() for w in attention.score_weights())

    def run(input_gates, h0, c0, o0, recurrent_weight, keys, values, output_weight, *weights):
        # score_weights() hands the recurrence this call's (perturbed) copies
        attention.score_weights = lambda: weights
        outputs, _, state = decoder_recurrence(input_gates, RecurrentState(h0, c0, o0),
                                               SourceMemory(keys, values, padding_mask),
                                               StepWeights(recurrent_weight, output_weight, attention), dropout_mask)
        return outputs, state.h, state.c

    assert torch.autograd.gradcheck(run, inputs + score_weights)


@pytest.mark.parametrize("attention_name", ATTENTIONS)
def test_model_gradients_match_finite_differences(attention_name):
    """Every parameter's gradient of the summed log-likelihood, through the whole model."""
    generator = torch.Generator().manual_seed(1)
    src_dict, tgt_dict = make_dictionary(7), make_dictionary(8)
    model = build_model(src_dict, tgt_dict, embed_size=3, hidden_size=HIDDEN, attention=attention_name).double()
    batch = collate(src_dict, tgt_dict, random_sentences(generator, src_dict, [3, 1, 4]),
                    random_sentences(generator, tgt_dict, [2, 4, 1]))
    target = batch["target"]
    names = [name for name, _ in model.named_parameters()]
    parameters = tuple(p.detach().clone().requires_grad_() for p in model.parameters())

    def loss(*values):
        logits, _ = functional_call(model, dict(zip(names, values)), args=(), kwargs=batch["net_input"])
        log_probs = torch.log_softmax(logits, dim=-1)
        return torch.nn.functional.nll_loss(log_probs.view(-1, log_probs.size(-1)), target.view(-1),
                                            ignore_index=tgt_dict.pad(), reduction="sum")

    assert torch.autograd.gradcheck(loss, parameters)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16], ids=["bfloat16", "float16"])
@pytest.mark.parametrize("attention_name", ATTENTIONS)
def test_mixed_precision_gradients_match_full_precision(attention_name, dtype):
    """Under autocast (what --amp turns on on a GPU, float16 or bfloat16, and --cpu-autocast on a
    CPU), here CPU autocast, the hand-written backward pass runs in the forward pass's precision
    setting and its gradients stay close to float32's."""
    generator = torch.Generator().manual_seed(2)
    src_dict, tgt_dict = make_dictionary(30), make_dictionary(40)
    model = build_model(src_dict, tgt_dict, embed_size=16, hidden_size=16, dropout=0.3, attention=attention_name)
    batch = collate(src_dict, tgt_dict, random_sentences(generator, src_dict, [3, 7, 5]),
                    random_sentences(generator, tgt_dict, [4, 2, 6]))

    def gradients(autocast):
        model.zero_grad()
        torch.manual_seed(0)  # the same dropout masks
        with torch.autocast("cpu", dtype=dtype, enabled=autocast):
            logits, _ = model(**batch["net_input"])
        log_probs = torch.log_softmax(logits.float(), dim=-1)
        torch.nn.functional.nll_loss(log_probs.view(-1, log_probs.size(-1)), batch["target"].view(-1),
                                     ignore_index=tgt_dict.pad(), reduction="sum").backward()
        return torch.cat([p.grad.flatten() for p in model.parameters()])

    full, mixed = gradients(autocast=False), gradients(autocast=True)
    assert mixed.dtype == torch.float32
    assert (mixed - full).norm() / full.norm() < 0.03


def test_cpu_autocast_option_runs_the_output_layer_in_bfloat16_and_keeps_float32_weights_and_gradients(
        tmp_path, monkeypatch):
    """--cpu-autocast bf16: the logits come out of a bfloat16 product, the combined outputs o_t
    before it stay float32 (the recurrence does not run under autocast), validation and generation
    (eval mode) are float32, the parameters and their
    gradients stay float32 and close to a float32 model's; auto follows the CPU's flags."""
    from cs224n_nmt_plugin.models.cpu_autocast import cpu_has_bf16_instructions, uses_bf16

    generator = torch.Generator().manual_seed(3)
    src_dict, tgt_dict = make_dictionary(30), make_dictionary(40)
    batch = collate(src_dict, tgt_dict, random_sentences(generator, src_dict, [3, 7, 5]),
                    random_sentences(generator, tgt_dict, [4, 2, 6]))
    grads = {}
    for choice in ("none", "bf16"):
        torch.manual_seed(0)
        model = build_model(src_dict, tgt_dict, embed_size=16, hidden_size=16, cpu_autocast=choice)
        logits, _ = model(**batch["net_input"])
        assert logits.dtype == (torch.bfloat16 if choice == "bf16" else torch.float32)
        assert model(**batch["net_input"], features_only=True)[0].dtype == torch.float32
        assert model.eval()(**batch["net_input"])[0].dtype == torch.float32  # validation, generation
        model.train()
        log_probs = torch.log_softmax(logits.float(), dim=-1)
        torch.nn.functional.nll_loss(log_probs.view(-1, log_probs.size(-1)), batch["target"].view(-1),
                                     ignore_index=tgt_dict.pad(), reduction="sum").backward()
        assert all(p.dtype == p.grad.dtype == torch.float32 for p in model.parameters())
        grads[choice] = torch.cat([p.grad.flatten() for p in model.parameters()])
    assert (grads["bf16"] - grads["none"]).norm() / grads["none"].norm() < 0.03

    # the bfloat16 product runs over the rows padded to a multiple of TRAINING_ROWS (one oneDNN kernel
    # shape for every 64 row counts), and the logits are those of the unpadded rows
    from cs224n_nmt_plugin.models import vocab_projection

    padded, pad_rows = [], vocab_projection.pad_rows

    def recording_pad_rows(rows, multiple):
        padded.append(pad_rows(rows, multiple).shape)
        return pad_rows(rows, multiple)

    monkeypatch.setattr(vocab_projection, "pad_rows", recording_pad_rows)
    features = torch.randn(70, 16)
    logits = model.decoder.output_layer(features)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        unpadded = torch.nn.functional.linear(features, model.decoder.target_vocab_projection.weight)
    assert padded == [(2 * vocab_projection.TRAINING_ROWS, 16)] and logits.shape == (70, len(tgt_dict))
    assert logits.dtype == torch.bfloat16 and torch.allclose(logits.float(), unpadded.float(), rtol=1e-2, atol=1e-2)

    with_bf16, without = tmp_path / "with", tmp_path / "without"
    with_bf16.write_text("processor\t: 0\nflags\t\t: fpu sse avx512f avx512_bf16 amx_tile\n")
    without.write_text("processor\t: 0\nflags\t\t: fpu sse avx2\n")
    assert cpu_has_bf16_instructions(with_bf16) and not cpu_has_bf16_instructions(without)
    assert not cpu_has_bf16_instructions(tmp_path / "no-such-file")
    assert uses_bf16("bf16") and not uses_bf16("none")
    assert uses_bf16("auto") == cpu_has_bf16_instructions()
