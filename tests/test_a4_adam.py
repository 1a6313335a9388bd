"""--optimizer a4_adam is the homework's torch.optim.Adam inside fairseq: its updates are torch's
exactly, fairseq's own adam would differ on the same gradients, and it trains and resumes
through fairseq-train (the SIGKILL-resume and DDP tests of test_reliability.py run train.sh and
fairseq-train with it)."""
import pytest
import torch
from fairseq import optim, utils
from omegaconf import OmegaConf

import cs224n_nmt_plugin.optim  # noqa: F401  (registers a4_adam)
from conftest import PLUGIN, fairseq_records, run_tool

STEPS, LR = 5, 1e-3
# torch's CPU kernels take a vectorized or a scalar path depending on where a tensor's memory
# starts, which can round the last bit of an update differently: two runs of the same Adam on the
# same numbers agree to the last bit in most runs and within a few float32 ulps of these weights
# (up to about 3e-8 each for weights near 0.4): 5e-8 was exceeded once in a few fresh processes.
ULPS = 2e-7


def same_weights(a, b):
    return all(torch.allclose(x, y, rtol=0, atol=ULPS) for x, y in zip(a, b))


def parameters(seed=0):
    """Weights shaped like a small model's (an embedding, a matrix, a bias)."""
    generator = torch.Generator().manual_seed(seed)
    shapes = [(300, 16), (64, 32), (64,)]
    return [torch.nn.Parameter(torch.randn(*shape, generator=generator) * 0.1) for shape in shapes]


def gradients(params, step):
    """Gradients of about 0.01, some of them tiny (1e-9): where the two Adams differ."""
    generator = torch.Generator().manual_seed(100 + step)
    grads = []
    for p in params:
        g = torch.randn(p.shape, generator=generator) * 0.01
        tiny = torch.rand(p.shape, generator=generator) < 0.3
        grads.append(torch.where(tiny, g * 1e-7, g))
    return grads


def fairseq_optimizer(name, params, **options):
    """fairseq's optimizer NAME with its defaults, as fairseq-train builds it from its config."""
    config = OmegaConf.structured(optim.OPTIMIZER_DATACLASS_REGISTRY[name](lr=[LR], **options))
    return optim.OPTIMIZER_REGISTRY[name](config, params)


def run(optimizer, params):
    for step in range(STEPS):
        for p, g in zip(params, gradients(params, step)):
            p.grad = g.clone()
        optimizer.step()
    return [p.detach().clone() for p in params]


def test_a4_adam_is_torchs_fused_adam_with_the_homeworks_defaults():
    ours_params, torch_params = parameters(), parameters()
    ours = fairseq_optimizer("a4_adam", ours_params)
    assert ours.implementation == "fused"  # torch has a fused Adam for CPU float32
    group = ours.optimizer.param_groups[0]
    assert (group["lr"], group["betas"], group["eps"], group["weight_decay"]) == (LR, (0.9, 0.999), 1e-8, 0.0)
    expected = run(torch.optim.Adam(torch_params, lr=LR, fused=True), torch_params)
    assert same_weights(run(ours, ours_params), expected)


@pytest.mark.parametrize("implementation, flags", [("foreach", {"foreach": True}), ("for-loop", {"foreach": False})])
def test_each_implementation_is_torchs_and_all_agree_up_to_rounding(implementation, flags):
    """Torch's Adam of the same implementation (see ULPS); within 1e-6 of the fused one (the
    kernels order their float32 operations differently)."""
    ours_params, torch_params, fused_params = parameters(), parameters(), parameters()
    ours = fairseq_optimizer("a4_adam", ours_params, a4_adam_implementation=implementation)
    result = run(ours, ours_params)
    expected = run(torch.optim.Adam(torch_params, lr=LR, **flags), torch_params)
    assert same_weights(result, expected)
    fused = run(torch.optim.Adam(fused_params, lr=LR, fused=True), fused_params)
    assert max((a - b).abs().max().item() for a, b in zip(result, fused)) < 1e-6


def test_fairseqs_adam_would_not_be_the_homeworks_optimizer():
    """fairseq's adam adds eps before the bias correction: on the same gradients its weights move
    by more than 1e-4 away from torch's wherever the gradients are tiny."""
    ours_params, fairseq_params = parameters(), parameters()
    ours = run(fairseq_optimizer("a4_adam", ours_params), ours_params)
    theirs = run(fairseq_optimizer("adam", fairseq_params, tpu=False), fairseq_params)
    assert max((a - b).abs().max().item() for a, b in zip(ours, theirs)) > 1e-4


def trainer_update(optimizer, params, grads, sample_size, clip_norm):
    """What fairseq's trainer does with the gradients of an update: multiply_grads(1 / sample_size),
    clip_grad_norm(clip_norm), step, zero_grad; returns the norm it logs."""
    for p, g in zip(params, grads):
        p.grad = g.clone()
    optimizer.multiply_grads(1 / sample_size)
    norm = optimizer.clip_grad_norm(clip_norm)
    optimizer.step()
    optimizer.zero_grad()
    return float(norm)


@pytest.mark.parametrize("implementation", ["auto", "foreach"])
@pytest.mark.parametrize("clip_norm", [0.0, 0.5, 100.0], ids=["no-clip", "clipped", "under-the-bound"])
def test_the_kept_gradient_factor_gives_torchs_adam_on_fairseqs_scaled_and_clipped_gradients(implementation,
                                                                                             clip_norm):
    """a4_adam applies multiply_grads' factor and the clipping coefficient in its step (inside the
    fused kernel, or in one pass): the same updates and logged norms as torch's Adam on gradients
    scaled and clipped the way fairseq's optimizers do it, within float32 rounding."""
    ours_params, torch_params = parameters(), parameters()
    ours = fairseq_optimizer("a4_adam", ours_params, a4_adam_implementation=implementation)
    reference = torch.optim.Adam(torch_params, lr=LR, fused=True)
    for step in range(STEPS):
        grads = [g * 40 for g in gradients(ours_params, step)]  # norms about 1 after 1/32
        for p, g in zip(torch_params, grads):
            p.grad = g.clone() / 32
        expected_norm = float(utils.clip_grad_norm_(torch_params, clip_norm))
        reference.step()
        reference.zero_grad()
        assert trainer_update(ours, ours_params, grads, 32, clip_norm) == pytest.approx(expected_norm, rel=1e-6)
    assert max((a - b).abs().max().item() for a, b in zip(ours_params, torch_params)) < 1e-7


def test_the_gradient_norm_of_a4_sized_gradients_is_float64s_within_1e_7():
    """The logged and clipped norm over gradients the size of the a4 embeddings and output layer
    (three 50k x 256, plus a bias of a size that is no multiple of the chunks) agrees with
    float64's to 1e-7; torch's float32 vector_norm, which fairseq's clip_grad_norm_ uses, was
    5e-4 off on these."""
    generator = torch.Generator().manual_seed(0)
    params = [torch.nn.Parameter(torch.zeros(50_004, 256)) for _ in range(3)] + [torch.nn.Parameter(torch.zeros(5000))]
    optimizer = fairseq_optimizer("a4_adam", params)
    for p in params:
        p.grad = torch.randn(p.shape, generator=generator) * 0.01
    expected = torch.stack([p.grad.double().pow(2).sum() for p in params]).sum().sqrt().item()
    assert float(optimizer.clip_grad_norm(0.0)) == pytest.approx(expected, rel=1e-7)


def test_the_factor_is_applied_at_the_step_and_forgotten_by_zero_grad():
    params = parameters()
    optimizer = fairseq_optimizer("a4_adam", params)
    grads = gradients(params, 0)
    for p, g in zip(params, grads):
        p.grad = g.clone()
    optimizer.multiply_grads(0.5)
    assert all(torch.equal(p.grad, g) for p, g in zip(params, grads))  # no pass over the gradients
    optimizer.zero_grad()  # as after an update fairseq skipped
    reference_params = parameters()
    expected = run(torch.optim.Adam(reference_params, lr=LR, fused=True), reference_params)
    assert same_weights(run(optimizer, params), expected)


def test_the_lr_scheduler_sets_torchs_learning_rate():
    params = parameters()
    optimizer = fairseq_optimizer("a4_adam", params)
    optimizer.set_lr(5e-4)
    assert optimizer.get_lr() == 5e-4 and optimizer.optimizer.param_groups[0]["lr"] == 5e-4


def train(data_bin, save_dir, *options):
    result = run_tool("fairseq-train", data_bin, "--user-dir", PLUGIN, "--arch", "cs224n_lstm_tiny", "--cpu",
                      "--optimizer", "a4_adam", "--lr", "5e-3", "--clip-norm", "5", "--batch-size", "32",
                      "--criterion", "cross_entropy", "--sentence-avg", "--seed", "0", "--save-dir", save_dir,
                      "--max-update", "30", "--disable-validation", "--no-progress-bar", "--log-format", "json",
                      "--log-interval", "1", "--lr-scheduler", "inverse_sqrt", "--warmup-updates", "10", *options)
    return fairseq_records(result.stdout + result.stderr, "train_inner")


@pytest.mark.slow
def test_fairseq_train_with_a4_adam_saves_torchs_state_and_runs_under_amp_and_update_freq(copy_model, tmp_path):
    """A real fairseq-train with an lr scheduler and clipping; its checkpoint holds torch's Adam
    state; --amp (on a CPU: fairseq's loss scaler around the optimizer, which does nothing) and
    --update-freq 2 work with it."""
    plain = train(copy_model.data_bin, tmp_path / "plain")
    losses = [float(record["loss"]) for record in plain]
    assert len(plain) == 30 and sum(losses[-5:]) < sum(losses[:5])
    assert float(plain[4]["lr"]) < float(plain[9]["lr"])  # the warm-up set torch's lr
    state = torch.load(tmp_path / "plain" / "checkpoint_last.pt", map_location="cpu", weights_only=False)
    assert state["optimizer_history"][-1]["optimizer_name"] == "A4Adam"
    assert {"step", "exp_avg", "exp_avg_sq"} <= set(next(iter(state["last_optimizer_state"]["state"].values())))
    amp = train(copy_model.data_bin, tmp_path / "amp", "--amp")
    assert [r["loss"] for r in amp] == [r["loss"] for r in plain]
    accumulated = train(copy_model.data_bin, tmp_path / "accumulated", "--update-freq", "2")
    assert len(accumulated) == 30 and all(float(r["bsz"]) > 32 for r in accumulated)  # two batches an update
