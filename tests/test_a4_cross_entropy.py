"""--criterion a4_cross_entropy is fairseq's cross_entropy (the homework's summed NLL) computed at
the target words only: the same loss, gradients and logged figures on padded batches, its own
backward pass against finite differences, its loss where a probability underflows, and a real
fairseq-train with it logging what cross_entropy logs."""
import pytest
import torch
from fairseq.criterions.cross_entropy import CrossEntropyCriterion

import cs224n_nmt_plugin.criterions  # noqa: F401  (registers a4_cross_entropy)
from conftest import PLUGIN, build_model, collate, fairseq_records, make_dictionary, random_sentences, run_tool
from cs224n_nmt_plugin.criterions.a4_cross_entropy import A4CrossEntropyCriterion, SummedNLL


class Task:
    def __init__(self, dictionary):
        self.target_dictionary = dictionary


def padded_batch(seed=0):
    """Three pairs whose targets (4, 1 and 6 words plus </s>) leave padding in the (3, 7) target."""
    generator = torch.Generator().manual_seed(seed)
    src_dict, tgt_dict = make_dictionary(12), make_dictionary(15)
    batch = collate(src_dict, tgt_dict, random_sentences(generator, src_dict, [3, 5, 2]),
                    random_sentences(generator, tgt_dict, [4, 1, 6]))
    return src_dict, tgt_dict, batch


def central_differences(function, x, step=1e-6):
    """d function / d x (a scalar function of a float64 tensor), one element at a time."""
    grad = torch.empty_like(x)
    for i in range(x.numel()):
        shift = torch.zeros_like(x)
        shift.view(-1)[i] = step
        grad.view(-1)[i] = (function(x + shift) - function(x - shift)) / (2 * step)
    return grad


def summed_nll_and_gradient(logits, target, scale=1.0):
    logits = logits.detach().requires_grad_()
    loss = SummedNLL.apply(logits, target)
    (scale * loss).backward()
    return loss.detach(), logits.grad


def test_summed_nll_backward_matches_finite_differences():
    generator = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 9, generator=generator, dtype=torch.float64)
    target = torch.tensor([0, 3, 8, 3, 1])
    _, grad = summed_nll_and_gradient(logits, target)
    with torch.no_grad():
        assert torch.allclose(grad, central_differences(lambda x: SummedNLL.apply(x, target), logits), atol=1e-8)
    # a scaled loss (a loss scaler's) scales the gradient
    _, scaled = summed_nll_and_gradient(logits, target, scale=3.5)
    assert torch.allclose(scaled, 3.5 * grad, rtol=1e-12)


def test_summed_nll_is_log_softmax_nll_even_where_the_target_probability_underflows():
    """The loss comes from the logits' maximum and the softmax's, not from P_t[y_t], which is 0 in
    float32 when the target's logit lies 200 below the best one."""
    logits = torch.tensor([[0.0, 200.0, 1.0], [2.0, -1.0, 0.5]])
    target = torch.tensor([0, 2])
    assert torch.softmax(logits, dim=1)[0, 0] == 0
    loss, grad = summed_nll_and_gradient(logits, target)
    reference = -torch.log_softmax(logits.double(), dim=1).gather(1, target.unsqueeze(1)).sum()
    assert torch.isfinite(loss) and torch.allclose(loss.double(), reference, rtol=1e-6)
    onehot = torch.nn.functional.one_hot(target, 3).double()
    assert torch.allclose(grad.double(), torch.softmax(logits.double(), dim=1) - onehot, atol=1e-7)


def test_a_second_backward_through_the_same_graph_fails_loudly():
    """The backward pass writes the gradient over the saved softmax: autograd must refuse to reuse it."""
    logits = torch.randn(4, 6, requires_grad=True)
    loss = SummedNLL.apply(logits, torch.tensor([1, 0, 5, 2]))
    loss.backward(retain_graph=True)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()


@pytest.mark.parametrize("sentence_avg", [True, False])
def test_loss_gradients_and_logging_are_cross_entropys(sentence_avg):
    src_dict, tgt_dict, batch = padded_batch()
    assert batch["target"].eq(tgt_dict.pad()).any()
    results = {}
    for criterion_class in (CrossEntropyCriterion, A4CrossEntropyCriterion):
        torch.manual_seed(0)
        model = build_model(src_dict, tgt_dict, dropout=0.0)
        criterion = criterion_class(Task(tgt_dict), sentence_avg=sentence_avg)
        loss, sample_size, logging_output = criterion(model, batch)
        loss.backward()
        results[criterion_class] = loss, sample_size, logging_output, [p.grad for p in model.parameters()]
    (loss, size, log, grads), (ours, our_size, our_log, our_grads) = results.values()
    assert torch.allclose(ours, loss, rtol=1e-6)
    assert our_size == size == (3 if sentence_avg else batch["ntokens"])
    assert our_log.keys() == log.keys() and all(our_log[k] == log[k] for k in log if k != "loss")
    assert all(torch.allclose(a, b, rtol=1e-5, atol=1e-7) for a, b in zip(our_grads, grads))


def test_the_output_layer_projects_the_target_words_only():
    src_dict, tgt_dict, batch = padded_batch()
    model = build_model(src_dict, tgt_dict)
    projected, output_layer = [], model.decoder.output_layer

    def recording_output_layer(features):
        projected.append(features.shape)
        return output_layer(features)

    model.decoder.output_layer = recording_output_layer
    A4CrossEntropyCriterion(Task(tgt_dict), sentence_avg=True)(model, batch)
    words = int(batch["target"].ne(tgt_dict.pad()).sum())
    assert projected == [torch.Size([words, 5])] and words < batch["target"].numel()


def test_per_word_losses_are_refused_with_a_clear_message():
    src_dict, tgt_dict, batch = padded_batch()
    with pytest.raises(ValueError, match="summed loss only"):
        A4CrossEntropyCriterion(Task(tgt_dict), sentence_avg=True)(build_model(src_dict, tgt_dict), batch, reduce=False)


@pytest.mark.slow
def test_fairseq_train_logs_what_cross_entropy_logs(copy_model, tmp_path):
    """Real fairseq-train runs, 20 updates each: the losses, perplexities and gradient norms that
    fairseq logs agree to its printed precision (float32 rounding aside) with cross_entropy's."""
    records = {}
    for criterion in ("cross_entropy", "a4_cross_entropy"):
        result = run_tool("fairseq-train", copy_model.data_bin, "--user-dir", PLUGIN, "--arch", "cs224n_lstm_tiny",
                          "--cpu", "--optimizer", "a4_adam", "--lr", "5e-3", "--clip-norm", "5", "--batch-size", "32",
                          "--criterion", criterion, "--sentence-avg", "--seed", "0", "--max-update", "20",
                          "--save-dir", tmp_path / criterion, "--no-save", "--disable-validation", "--no-progress-bar",
                          "--log-format", "json", "--log-interval", "1")
        records[criterion] = fairseq_records(result.stdout + result.stderr, "train_inner")
    assert len(records["a4_cross_entropy"]) == len(records["cross_entropy"]) == 20
    for ours, theirs in zip(records["a4_cross_entropy"], records["cross_entropy"]):
        for key in ("loss", "nll_loss", "gnorm"):
            tolerance = 0.002 * max(1.0, float(theirs[key]))
            assert abs(float(ours[key]) - float(theirs[key])) <= tolerance, (key, ours, theirs)
        assert ours["wpb"] == theirs["wpb"] and ours["bsz"] == theirs["bsz"]
