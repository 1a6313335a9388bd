"""The model's weights under the CS224n starter code's parameter names (A4_SPEC.md).

Embedding and output-projection rows stay in the fairseq dictionaries' order; mapping
them to the starter's vocab ids is the checkpoint importer's job, not this module's.
"""

# fairseq parameter name -> starter-code (nmt_model.NMT) parameter name
FAIRSEQ_TO_CS224N = {
    "encoder.embed_tokens.weight": "model_embeddings.source.weight",
    "decoder.embed_tokens.weight": "model_embeddings.target.weight",
    **{
        f"encoder.lstm.{kind}_{suffix}": f"encoder.{kind}_{suffix}"
        for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")
        for suffix in ("l0", "l0_reverse")
    },
    **{f"decoder.cell.{kind}": f"decoder.{kind}" for kind in ("weight_ih", "weight_hh", "bias_ih", "bias_hh")},
    "encoder.h_projection.weight": "h_projection.weight",
    "encoder.c_projection.weight": "c_projection.weight",
    "decoder.attention.att_projection.weight": "att_projection.weight",
    "decoder.combined_output_projection.weight": "combined_output_projection.weight",
    "decoder.target_vocab_projection.weight": "target_vocab_projection.weight",
}
CS224N_TO_FAIRSEQ = {cs224n: fairseq for fairseq, cs224n in FAIRSEQ_TO_CS224N.items()}


def to_cs224n_state_dict(model) -> dict:
    """Return the model's parameters keyed by the starter code's names (detached copies)."""
    _require_multiplicative(model)
    state = model.state_dict()
    _check_names(set(state), set(FAIRSEQ_TO_CS224N), "model")
    return {FAIRSEQ_TO_CS224N[name]: tensor.detach().clone() for name, tensor in state.items()}


def from_cs224n_state_dict(model, state_dict) -> None:
    """Load starter-code-named parameters into the model (shapes must match exactly)."""
    _require_multiplicative(model)
    _check_names(set(state_dict), set(CS224N_TO_FAIRSEQ), "CS224n state_dict")
    model.load_state_dict({CS224N_TO_FAIRSEQ[name]: tensor for name, tensor in state_dict.items()}, strict=True)


def _require_multiplicative(model):
    attention = model.decoder.attention.name
    if attention != "multiplicative":
        raise ValueError(f"the CS224n starter's model has multiplicative attention only; this model has {attention}")


def _check_names(found, expected, what):
    missing, unexpected = sorted(expected - found), sorted(found - expected)
    if missing or unexpected:
        raise KeyError(f"{what} does not match the a4 parameters: missing {missing}, unexpected {unexpected}")
