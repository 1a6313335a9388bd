"""The output layer W_vocab o_t formed in blocks of words when decoding (vocab_projection.py)
gives the logits of one product."""
import torch
import torch.nn.functional as F

from cs224n_nmt_plugin.vocab_projection import vocab_logits


def test_blocked_logits_equal_one_product():
    generator = torch.Generator().manual_seed(0)
    features = torch.randn(7, 5, 16, generator=generator, dtype=torch.float64).transpose(0, 1)  # (5, 7, 16), strided
    weight = torch.randn(1300, 16, generator=generator, dtype=torch.float64)  # 1300 words: a last, partial block
    for words_per_block in (512, 7, 1300, 5000):
        logits = vocab_logits(features, weight, words_per_block)
        assert logits.shape == (5, 7, 1300)
        torch.testing.assert_close(logits, F.linear(features, weight), rtol=0, atol=1e-12)


def test_with_gradients_it_is_one_differentiable_product():
    features = torch.randn(3, 8, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(20, 8, dtype=torch.float64, requires_grad=True)
    vocab_logits(features, weight, words_per_block=6).sum().backward()
    torch.testing.assert_close(weight.grad, features.detach().sum(0).expand(20, 8), rtol=0, atol=1e-12)


def test_under_autocast_it_is_the_autocast_product():
    features, weight = torch.randn(3, 8), torch.randn(20, 8)
    with torch.no_grad(), torch.autocast("cpu", dtype=torch.bfloat16):
        assert vocab_logits(features, weight, words_per_block=6).dtype == torch.bfloat16
