"""The starter code's parameter names, one-to-one with the model's parameters."""
import pytest
import torch

from conftest import build_model, make_dictionary
from cs224n_nmt_plugin.homework.parameter_names import from_cs224n_state_dict, to_cs224n_state_dict

E, H, V_SRC, V_TGT = 7, 5, 13, 11

# A4_SPEC.md, "The starter code's parameter names", with the shapes nn.Module gives them.
STARTER_SHAPES = {
    "model_embeddings.source.weight": (V_SRC, E),
    "model_embeddings.target.weight": (V_TGT, E),
    **{f"encoder.weight_ih_{s}": (4 * H, E) for s in ("l0", "l0_reverse")},
    **{f"encoder.weight_hh_{s}": (4 * H, H) for s in ("l0", "l0_reverse")},
    **{f"encoder.bias_ih_{s}": (4 * H,) for s in ("l0", "l0_reverse")},
    **{f"encoder.bias_hh_{s}": (4 * H,) for s in ("l0", "l0_reverse")},
    "decoder.weight_ih": (4 * H, E + H),
    "decoder.weight_hh": (4 * H, H),
    "decoder.bias_ih": (4 * H,),
    "decoder.bias_hh": (4 * H,),
    "h_projection.weight": (H, 2 * H),
    "c_projection.weight": (H, 2 * H),
    "att_projection.weight": (H, 2 * H),
    "combined_output_projection.weight": (H, 3 * H),
    "target_vocab_projection.weight": (V_TGT, H),
}


def model():
    return build_model(make_dictionary(V_SRC - 4), make_dictionary(V_TGT - 4), embed_size=E, hidden_size=H)


def test_names_and_shapes_are_the_starter_codes():
    exported = to_cs224n_state_dict(model())
    assert {name: tuple(t.shape) for name, t in exported.items()} == STARTER_SHAPES


def test_the_model_has_no_parameter_beyond_the_equations():
    assert sum(p.numel() for p in model().parameters()) == sum(
        torch.Size(shape).numel() for shape in STARTER_SHAPES.values()
    )


def test_round_trip_is_exact():
    source, target = model(), model()
    from_cs224n_state_dict(target, to_cs224n_state_dict(source))
    for (name, a), (_, b) in zip(source.state_dict().items(), target.state_dict().items()):
        assert torch.equal(a, b), name
    assert to_cs224n_state_dict(source).keys() == to_cs224n_state_dict(target).keys()


def test_each_name_lands_on_its_own_parameter():
    target = model()
    distinct = {name: torch.full(shape, float(i)) for i, (name, shape) in enumerate(STARTER_SHAPES.items())}
    from_cs224n_state_dict(target, distinct)
    back = to_cs224n_state_dict(target)
    for name, tensor in distinct.items():
        assert torch.equal(back[name], tensor), name


def test_missing_or_extra_names_are_refused():
    state = to_cs224n_state_dict(model())
    del state["att_projection.weight"]
    state["attention.bias"] = torch.zeros(3)
    with pytest.raises(KeyError, match="missing \\['att_projection.weight'\\], unexpected \\['attention.bias'\\]"):
        from_cs224n_state_dict(model(), state)


@pytest.mark.parametrize("attention", ["dot", "additive"])
def test_only_multiplicative_attention_has_the_starter_format(attention):
    other = build_model(make_dictionary(V_SRC - 4), make_dictionary(V_TGT - 4), E, H, attention=attention)
    with pytest.raises(ValueError, match=f"multiplicative attention only; this model has {attention}"):
        to_cs224n_state_dict(other)
    with pytest.raises(ValueError, match=f"multiplicative attention only; this model has {attention}"):
        from_cs224n_state_dict(other, to_cs224n_state_dict(model()))
