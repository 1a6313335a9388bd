"""The model computes the handout's eqs (1)-(14): compared with a plain per-sentence
implementation written here from the equations, on random weights in the starter's names;
likewise the dot-product and additive attention variants."""
import math

import pytest
import torch
from fairseq.modules import FairseqDropout

from conftest import build_model, collate, make_dictionary, random_sentences
from cs224n_nmt_plugin.homework.parameter_names import CS224N_TO_FAIRSEQ, from_cs224n_state_dict

E, H = 6, 5  # embed and hidden sizes: distinct so that transposed weights cannot pass


def random_cs224n_weights(generator, n_src, n_tgt):
    """Starter-named weights drawn wider than the model's init so every term matters."""
    shapes = {
        "model_embeddings.source.weight": (n_src, E),
        "model_embeddings.target.weight": (n_tgt, E),
        "h_projection.weight": (H, 2 * H),
        "c_projection.weight": (H, 2 * H),
        "att_projection.weight": (H, 2 * H),
        "combined_output_projection.weight": (H, 3 * H),
        "target_vocab_projection.weight": (n_tgt, H),
        "decoder.weight_ih": (4 * H, E + H),
        "decoder.weight_hh": (4 * H, H),
        "decoder.bias_ih": (4 * H,),
        "decoder.bias_hh": (4 * H,),
    }
    for suffix in ("l0", "l0_reverse"):
        shapes[f"encoder.weight_ih_{suffix}"] = (4 * H, E)
        shapes[f"encoder.weight_hh_{suffix}"] = (4 * H, H)
        shapes[f"encoder.bias_ih_{suffix}"] = (4 * H,)
        shapes[f"encoder.bias_hh_{suffix}"] = (4 * H,)
    return {name: torch.randn(shape, generator=generator, dtype=torch.float64) * 0.6 for name, shape in shapes.items()}


def lstm_step(x, h, c, w_ih, w_hh, b_ih, b_hh):
    """One LSTM step as torch documents it: gates i, f, g, o stacked in that order."""
    gates = w_ih @ x + b_ih + w_hh @ h + b_hh
    i, f, g, o = gates[:H], gates[H:2 * H], gates[2 * H:3 * H], gates[3 * H:]
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def multiplicative_score(w, h, enc_i):
    return float(h @ (w["att_projection.weight"] @ enc_i))  # eq (7)


def dot_score(w, h, enc_i):
    return float(h @ ((enc_i[:H] + enc_i[H:]) / 2))  # s_t^T h_i, h_i as the mean of its two directions


def additive_score(w, h, enc_i):
    return float(w["v"] @ torch.tanh(w["W_1"] @ enc_i + w["W_2"] @ h))  # v^T tanh(W_1 h_i + W_2 s_t)


SCORES = {"multiplicative": multiplicative_score, "dot": dot_score, "additive": additive_score}
# The variants' attention weights, in place of att_projection: reference name -> (parameter name, shape).
VARIANT_WEIGHTS = {
    "dot": {},
    "additive": {
        "W_1": ("decoder.attention.key_projection.weight", (H, 2 * H)),
        "W_2": ("decoder.attention.query_projection.weight", (H, H)),
        "v": ("decoder.attention.score_vector.weight", (1, H)),
    },
}


def reference_log_probs(w, source, prev_target, score=multiplicative_score):
    """Eqs (1)-(13) for one sentence, one vector at a time: returns log P_t for each step
    and the last step's attention. ``score(w, h_t^dec, h_i^enc)`` is e_{t,i}, eq (7) by default."""
    def encoder_direction(suffix, tokens):
        h, c, states = torch.zeros(H, dtype=torch.float64), torch.zeros(H, dtype=torch.float64), []
        for token in tokens:
            h, c = lstm_step(w["model_embeddings.source.weight"][token], h, c,
                             w[f"encoder.weight_ih_{suffix}"], w[f"encoder.weight_hh_{suffix}"],
                             w[f"encoder.bias_ih_{suffix}"], w[f"encoder.bias_hh_{suffix}"])
            states.append((h, c))
        return states

    forward = encoder_direction("l0", source)
    backward = encoder_direction("l0_reverse", source[::-1])[::-1]
    enc = [torch.cat([forward[i][0], backward[i][0]]) for i in range(len(source))]  # eqs (1)-(2)
    h = w["h_projection.weight"] @ torch.cat([forward[-1][0], backward[0][0]])  # eq (3)
    c = w["c_projection.weight"] @ torch.cat([forward[-1][1], backward[0][1]])  # eq (4)
    o = torch.zeros(H, dtype=torch.float64)  # o_0 = 0

    log_probs = []
    for token in prev_target:
        ybar = torch.cat([w["model_embeddings.target.weight"][token], o])  # eq (5)
        h, c = lstm_step(ybar, h, c, w["decoder.weight_ih"], w["decoder.weight_hh"],
                         w["decoder.bias_ih"], w["decoder.bias_hh"])  # eq (6)
        scores = [score(w, h, enc_i) for enc_i in enc]  # eq (7)
        top = max(scores)
        weights = [math.exp(s - top) for s in scores]
        alpha = [x / sum(weights) for x in weights]  # eq (8)
        a = sum(alpha_i * enc_i for alpha_i, enc_i in zip(alpha, enc))  # eq (9)
        o = torch.tanh(w["combined_output_projection.weight"] @ torch.cat([a, h]))  # eqs (10)-(12)
        logits = w["target_vocab_projection.weight"] @ o
        log_probs.append(logits - torch.logsumexp(logits, dim=0))  # eq (13)
    return torch.stack(log_probs), torch.tensor(alpha, dtype=torch.float64)


def unpadded(row, pad):
    return [int(t) for t in row if int(t) != pad]


def load_variant_weights(generator, model, weights, attention):
    """Replace att_projection by the variant's random weights and load them all (strictly:
    the variant has no parameter but these)."""
    del weights["att_projection.weight"]
    names = dict(CS224N_TO_FAIRSEQ)
    for ref, (name, shape) in VARIANT_WEIGHTS[attention].items():
        weights[ref] = torch.randn(shape, generator=generator, dtype=torch.float64) * 0.6
        names[ref] = name
    model.load_state_dict({names[ref]: tensor for ref, tensor in weights.items()}, strict=True)


@pytest.mark.parametrize("attention", SCORES)
@pytest.mark.parametrize("left_pad_source", [True, False], ids=["left-padded", "right-padded"])
def test_teacher_forced_log_probs_match_the_equations(left_pad_source, attention):
    generator = torch.Generator().manual_seed(0)
    src_dict, tgt_dict = make_dictionary(9), make_dictionary(11)
    model = build_model(src_dict, tgt_dict, E, H, attention=attention).double().eval()
    weights = random_cs224n_weights(generator, len(src_dict), len(tgt_dict))
    if attention == "multiplicative":
        from_cs224n_state_dict(model, weights)
    else:
        load_variant_weights(generator, model, weights, attention)

    sources = random_sentences(generator, src_dict, [4, 1, 7, 3])
    targets = random_sentences(generator, tgt_dict, [2, 6, 3, 5])
    batch = collate(src_dict, tgt_dict, sources, targets, left_pad_source=left_pad_source)
    net_input = batch["net_input"]
    assert net_input["src_tokens"].eq(src_dict.pad()).any(), "the batch must contain padding"

    with torch.no_grad():
        logits, extra = model(**net_input)
        log_probs = torch.log_softmax(logits, dim=-1)
    attn = extra["attn"][0]

    for row in range(len(sources)):
        source = unpadded(net_input["src_tokens"][row], src_dict.pad())
        prev_target = unpadded(net_input["prev_output_tokens"][row], tgt_dict.pad())
        expected, last_alpha = reference_log_probs(weights, source, prev_target, SCORES[attention])
        torch.testing.assert_close(log_probs[row, : len(prev_target)], expected, rtol=0, atol=1e-10)
        # The attention is returned in src_tokens' layout: zero on padding, reference values elsewhere.
        real_positions = net_input["src_tokens"][row].ne(src_dict.pad())
        step_attn = attn[row, len(prev_target) - 1]
        assert torch.all(step_attn[~real_positions] == 0)
        torch.testing.assert_close(step_attn[real_positions], last_alpha, rtol=0, atol=1e-10)


def test_padding_side_does_not_change_the_output():
    generator = torch.Generator().manual_seed(1)
    src_dict, tgt_dict = make_dictionary(9), make_dictionary(11)
    model = build_model(src_dict, tgt_dict, E, H).double().eval()
    sources = random_sentences(generator, src_dict, [5, 2, 8])
    targets = random_sentences(generator, tgt_dict, [3, 3, 4])
    outputs = []
    for left in (True, False):
        batch = collate(src_dict, tgt_dict, sources, targets, left_pad_source=left)
        with torch.no_grad():
            outputs.append(model(**batch["net_input"])[0])
    torch.testing.assert_close(outputs[0], outputs[1], rtol=0, atol=1e-12)


def test_dropout_is_applied_to_o_t_only():
    """In training mode the encoder and the first LSTM step are unchanged; o_t is dropped out."""
    generator = torch.Generator().manual_seed(2)
    src_dict, tgt_dict = make_dictionary(9), make_dictionary(11)
    model = build_model(src_dict, tgt_dict, E, H, dropout=0.5).double()
    dropouts = [m for m in model.modules() if isinstance(m, (torch.nn.Dropout, FairseqDropout))]
    assert dropouts == [model.decoder.dropout] and model.decoder.dropout.p == 0.5
    batch = collate(src_dict, tgt_dict, random_sentences(generator, src_dict, [4, 6]),
                    random_sentences(generator, tgt_dict, [3, 5]))
    src = batch["net_input"]["src_tokens"], batch["net_input"]["src_lengths"]
    model.train()
    train_encoding = model.encoder(*src)
    train_features, _ = model.decoder(batch["net_input"]["prev_output_tokens"], train_encoding, features_only=True)
    model.eval()
    eval_encoding = model.encoder(*src)
    for key in eval_encoding:
        torch.testing.assert_close(train_encoding[key], eval_encoding[key], rtol=0, atol=0)
    eval_features, _ = model.decoder(batch["net_input"]["prev_output_tokens"], eval_encoding, features_only=True)
    kept = train_features[:, 0] != 0
    assert 0 < kept.double().mean() < 1
    # inverted dropout: kept units of o_1 are o_1 / (1 - p)
    torch.testing.assert_close(train_features[:, 0][kept], eval_features[:, 0][kept] * 2, rtol=0, atol=1e-12)


def test_uniform_initialisation_of_every_parameter():
    model = build_model(make_dictionary(200), make_dictionary(300), embed_size=64, hidden_size=64)
    values = torch.cat([p.detach().flatten() for p in model.parameters()])
    assert values.abs().max() <= 0.1
    assert abs(values.std().item() - 0.1 / math.sqrt(3)) < 0.002  # U(-a, a) has std a / sqrt(3)
    for name, parameter in model.named_parameters():
        assert parameter.detach().abs().max() > 0.09, f"{name} was not initialised uniformly"
