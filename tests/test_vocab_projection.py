"""Eq (13)'s product (models/vocab_projection.py): through oneDNN on an x86 CPU, the float32
logits and both gradients against float64, the rows padded for oneDNN's kernel cache and sliced
off; the cases that keep torch's own product (float64, autocast); and the generation layouts."""
import pytest
import torch
import torch.nn.functional as F

from conftest import build_model, collate, make_dictionary, random_sentences
from cs224n_nmt_plugin.models import vocab_projection
from cs224n_nmt_plugin.models.vocab_projection import (
    GENERATION_ROWS,
    TRAINING_ROWS,
    VocabProjection,
    onednn_product_available,
)

needs_onednn = pytest.mark.skipif(not onednn_product_available(), reason="no oneDNN float32 product on this CPU")


@pytest.fixture
def onednn_shapes(monkeypatch):
    """The shapes of the rows each oneDNN product is given."""
    shapes, kernel = [], vocab_projection.onednn_linear

    def recording(rows, weight):
        shapes.append(tuple(rows.shape))
        return kernel(rows, weight)

    monkeypatch.setattr(vocab_projection, "onednn_linear", recording)
    return shapes


@needs_onednn
@pytest.mark.parametrize("words", [1, 63, 64, 65, 130])
def test_logits_and_gradients_match_float64_over_padded_rows(words, onednn_shapes):
    generator = torch.Generator().manual_seed(words)
    features = torch.randn(words, 24, generator=generator).requires_grad_()
    projection = projection_with(torch.randn(300, 24, generator=generator) * 0.1)
    weight = projection.weight
    grad_logits = torch.randn(words, 300, generator=generator)

    logits = projection(features)
    logits.backward(grad_logits)
    assert onednn_shapes == [(-(-words // TRAINING_ROWS) * TRAINING_ROWS, 24)]
    assert logits.shape == (words, 300) and logits.is_contiguous()

    features64, weight64 = (t.detach().double().requires_grad_() for t in (features, weight))
    expected = F.linear(features64, weight64)
    expected.backward(grad_logits.double())
    for actual, wanted in ((logits, expected), (features.grad, features64.grad), (weight.grad, weight64.grad)):
        assert_float32_close(actual, wanted)


def projection_with(weight):
    projection = VocabProjection(weight.size(1), weight.size(0)).to(weight.dtype)
    with torch.no_grad():
        projection.weight.copy_(weight)
    return projection


def assert_float32_close(actual, wanted):
    """Within float32 rounding of sums of a few hundred terms, relative to the tensor's scale."""
    torch.testing.assert_close(actual.double(), wanted.double(), rtol=1e-5, atol=1e-5 * wanted.abs().max().item())


@needs_onednn
def test_float64_and_autocast_keep_torch_product(onednn_shapes):
    features, weight = torch.randn(5, 8, dtype=torch.float64), torch.randn(20, 8, dtype=torch.float64)
    assert torch.equal(projection_with(weight)(features), F.linear(features, weight))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        assert projection_with(weight.float())(features.float()).dtype == torch.bfloat16
    assert onednn_shapes == []


@needs_onednn
def test_decoder_takes_onednn_product_in_training_and_validation(onednn_shapes):
    generator = torch.Generator().manual_seed(0)
    src_dict, tgt_dict = make_dictionary(30), make_dictionary(40)
    batch = collate(src_dict, tgt_dict, random_sentences(generator, src_dict, [3, 7, 5]),
                    random_sentences(generator, tgt_dict, [4, 2, 6]))
    model = build_model(src_dict, tgt_dict, embed_size=16, hidden_size=16)
    features, _ = model(**batch["net_input"], features_only=True)  # (3, T, 16)
    logits, _ = model(**batch["net_input"])
    model.eval()
    with torch.no_grad():
        model(**batch["net_input"])
    assert onednn_shapes == [(TRAINING_ROWS, 16), (TRAINING_ROWS, 16)]
    projection = model.decoder.target_vocab_projection
    assert_float32_close(logits, F.linear(features, projection.weight))


@needs_onednn
def test_generation_pads_a_beams_rows_less_and_keeps_the_logits(onednn_shapes):
    """After make_generation_fast_ (fairseq-generate's preparation) a float32 model's steps take
    oneDNN's product over rows padded to GENERATION_ROWS, with no transposed copy of W_vocab,
    and the same logits as before."""
    generator = torch.Generator().manual_seed(0)
    src_dict, tgt_dict = make_dictionary(30), make_dictionary(40)
    batch = collate(src_dict, tgt_dict, random_sentences(generator, src_dict, [3, 7, 5]),
                    random_sentences(generator, tgt_dict, [4, 2, 6]))
    model = build_model(src_dict, tgt_dict, embed_size=16, hidden_size=16).eval()
    with torch.no_grad():
        before, _ = model(**batch["net_input"])  # 3 x 7 rows
        model.make_generation_fast_()
        after, _ = model(**batch["net_input"])
    assert model.decoder.target_vocab_projection.weight_transposed is None
    assert onednn_shapes == [(TRAINING_ROWS, 16), (-(-21 // GENERATION_ROWS) * GENERATION_ROWS, 16)]
    assert_float32_close(after, before)


def test_without_onednn_a_float32_cpu_model_generates_with_w_vocab_transposed(monkeypatch):
    """Where oneDNN's product is missing (another CPU), a float32 model's generation steps take
    MKL's product with W_vocab^T kept contiguous: the same logits, nothing new in the state dict,
    and the copy follows .to(); a float64 model keeps torch's product and makes no copy."""
    monkeypatch.setattr(vocab_projection, "onednn_product_available", lambda: False)
    generator = torch.Generator().manual_seed(0)
    src_dict, tgt_dict = make_dictionary(30), make_dictionary(40)
    batch = collate(src_dict, tgt_dict, random_sentences(generator, src_dict, [3, 7, 5]),
                    random_sentences(generator, tgt_dict, [4, 2, 6]))
    model = build_model(src_dict, tgt_dict, embed_size=16, hidden_size=16).eval()
    saved = model.state_dict().keys()
    with torch.no_grad():
        before, _ = model(**batch["net_input"])
        model.make_generation_fast_()
        after, _ = model(**batch["net_input"])
    projection = model.decoder.target_vocab_projection
    assert projection.weight_transposed is not None and projection.weight_transposed.is_contiguous()
    assert torch.equal(projection.weight_transposed, projection.weight.t())
    assert model.state_dict().keys() == saved
    assert_float32_close(after, before)
    assert model.double().decoder.target_vocab_projection.weight_transposed.dtype == torch.float64

    double = build_model(src_dict, tgt_dict, embed_size=16, hidden_size=16).double().eval()
    double.make_generation_fast_()
    assert double.decoder.target_vocab_projection.weight_transposed is None
