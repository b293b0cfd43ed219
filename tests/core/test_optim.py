"""SignedAdamW: torch's AdamW for gamma >= 0, one decay per instance, both growth rules."""

import copy
import math

import pytest
import torch

from lib.core.optim import SignedAdamW, check_weight_decay, decay_factor


def tms_loss(W, b, x):
    """Sum over instances of the TMS ReLU-output MSE: W [I, n, m], b [I, n], x [B, I, n]."""
    out = torch.relu(torch.einsum("bim,inm->bin", torch.einsum("bin,inm->bim", x, W), W) + b)
    return ((out - x) ** 2).mean(dim=(0, 2)).sum()


def make_params(seed=0, I=3, n=12, m=4):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(I, n, m, generator=g) / math.sqrt(m), torch.randn(I, n, generator=g)


def batches(seed, steps, I=3, n=12, B=32):
    g = torch.Generator().manual_seed(seed + 1000)
    return [(torch.rand(B, I, n, generator=g) < 0.2) * torch.rand(B, I, n, generator=g) * 2
            for _ in range(steps)]


def run(make_opt, W0, b0, xs, schedule=None):
    W, b = W0.clone().requires_grad_(), b0.clone().requires_grad_()
    opt = make_opt(W, b)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule) if schedule else None
    for x in xs:
        opt.zero_grad()
        tms_loss(W, b, x).backward()
        opt.step()
        if sched:
            sched.step()
    return W.detach(), b.detach()


def warmup_cosine(t, warm=10, total=60):
    if t < warm:
        return (t + 1) / warm
    return 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * (t - warm) / (total - warm)))


def groups(W, b, wd):
    return [{"params": [W], "weight_decay": wd}, {"params": [b], "weight_decay": 0.0}]


@pytest.mark.parametrize("growth", ["linear", "unit_norm"])
@pytest.mark.parametrize("wd", [0.0, 0.01, 0.5, 1.0])
def test_matches_torch_adamw_for_nonnegative_decay(growth, wd):
    W0, b0 = make_params()
    xs = batches(0, 60)
    ref = run(lambda W, b: torch.optim.AdamW(groups(W, b, wd), lr=1e-2, foreach=False),
              W0, b0, xs, warmup_cosine)
    ours = run(lambda W, b: SignedAdamW(groups(W, b, wd), lr=1e-2, growth=growth),
               W0, b0, xs, warmup_cosine)
    for r, o in zip(ref, ours):
        torch.testing.assert_close(o, r, rtol=1e-5, atol=1e-6)


def test_per_instance_decay_equals_separate_adamw_runs():
    """A tensor [I] of decays trains each instance as its own torch AdamW would."""
    W0, b0 = make_params(seed=3)
    xs = batches(3, 60)
    wd = torch.tensor([0.0, 0.3, 1.0])
    ours = run(lambda W, b: SignedAdamW(groups(W, b, wd), lr=1e-2), W0, b0, xs, warmup_cosine)
    for k in range(3):
        ref = run(lambda W, b, w=float(wd[k]): torch.optim.AdamW(groups(W, b, w), lr=1e-2,
                                                                 foreach=False),
                  W0[k:k + 1], b0[k:k + 1], [x[:, k:k + 1] for x in xs], warmup_cosine)
        torch.testing.assert_close(ours[0][k:k + 1], ref[0], rtol=1e-5, atol=1e-6)
        torch.testing.assert_close(ours[1][k:k + 1], ref[1], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("growth", ["linear", "unit_norm"])
def test_mixed_sign_instances_are_independent(growth):
    """With decays of both signs in one tensor, each instance moves as if trained alone."""
    W0, b0 = make_params(seed=5)
    xs = batches(5, 40)
    wd = torch.tensor([-1.0, 0.0, 1.0])
    make = lambda w: (lambda W, b: SignedAdamW(groups(W, b, w), lr=1e-2, growth=growth))
    ours = run(make(wd), W0, b0, xs)
    for k in range(3):
        alone = run(make(float(wd[k])), W0[k:k + 1], b0[k:k + 1], [x[:, k:k + 1] for x in xs])
        torch.testing.assert_close(ours[0][k:k + 1], alone[0], rtol=1e-5, atol=1e-6)


def zero_grad_steps(p0, wd, steps, lr, growth):
    p = p0.clone().requires_grad_()
    opt = SignedAdamW([p], lr=lr, weight_decay=wd, growth=growth)
    for _ in range(steps):
        p.grad = torch.zeros_like(p)  # Adam's update of a zero gradient is exactly 0
        opt.step()
    return p.detach()


def test_linear_negative_decay_grows_geometrically():
    p0 = torch.randn(2, 5, 3)
    p = zero_grad_steps(p0, torch.tensor([-0.5, 0.5]), steps=20, lr=0.1, growth="linear")
    torch.testing.assert_close(p[0], p0[0] * 1.05**20)
    torch.testing.assert_close(p[1], p0[1] * 0.95**20)


def test_unit_norm_growth_drives_rows_to_unit_norm():
    g = torch.Generator().manual_seed(0)
    d = torch.randn(1, 4, 6, generator=g)
    d = d / d.norm(dim=-1, keepdim=True)
    scales = torch.tensor([0.2, 0.9, 1.0, 3.0])[None, :, None]
    p0 = d * scales  # rows of norm 0.2, 0.9, 1, 3
    one = zero_grad_steps(p0, -1.0, steps=1, lr=0.1, growth="unit_norm")
    norms = one.norm(dim=-1)[0]
    expected = scales[0, :, 0] * (1 - 0.1 * (1 - 1 / scales[0, :, 0]))  # 1 + lr g (1 - 1/|p|)
    torch.testing.assert_close(norms, expected, rtol=1e-6, atol=1e-6)
    assert norms[0] > 0.2 and norms[3] < 3.0  # short rows grow, long rows shrink
    many = zero_grad_steps(p0, -1.0, steps=400, lr=0.1, growth="unit_norm")
    torch.testing.assert_close(many.norm(dim=-1), torch.ones(1, 4), rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(many / many.norm(dim=-1, keepdim=True), d)  # directions kept


def test_unit_norm_rule_is_the_published_one():
    """f p = p + lr gamma p (1 - 1 / (|row| + eps)): exp/adamw.py of the authors' code."""
    p = torch.randn(2, 7, 5)
    lr, gamma, eps = 0.03, -0.7, 1e-8
    published = p + lr * gamma * p * (1 - 1 / p.norm(dim=-1, keepdim=True).add(eps))
    torch.testing.assert_close(p * decay_factor(p, gamma, lr, "unit_norm", -1, eps), published)


def test_unit_norm_positive_decay_is_plain_decay():
    p0 = torch.randn(2, 5, 3)
    p = zero_grad_steps(p0, 0.5, steps=10, lr=0.1, growth="unit_norm")
    torch.testing.assert_close(p, p0 * 0.95**10)


def test_zero_rows_and_columns_stay_zero():
    p0 = torch.randn(2, 5, 4)
    p0[:, :, 2:] = 0  # unused columns of a narrower instance
    p0[0, 3] = 0  # a zero row
    p = p0.clone().requires_grad_()
    opt = SignedAdamW([p], lr=0.1, weight_decay=torch.tensor([-1.0, 0.5]))
    for _ in range(5):
        g = torch.randn(2, 5, 4)
        g[:, :, 2:] = 0
        g[0, 3] = 0
        p.grad = g
        opt.step()
    assert float(p.detach()[:, :, 2:].abs().max()) == 0.0 and float(p.detach()[0, 3].abs().max()) == 0.0


def test_state_dict_roundtrip_continues_identically():
    W0, b0 = make_params()
    xs = batches(7, 20)
    wd = torch.tensor([-1.0, 0.2, 1.0])

    def fresh(W, b):
        return SignedAdamW(groups(W, b, wd), lr=1e-2)

    W, b = W0.clone().requires_grad_(), b0.clone().requires_grad_()
    opt = fresh(W, b)
    for x in xs[:10]:
        opt.zero_grad()
        tms_loss(W, b, x).backward()
        opt.step()
    state = copy.deepcopy(opt.state_dict())  # state_dict() shares the moment tensors
    W2, b2 = W.detach().clone().requires_grad_(), b.detach().clone().requires_grad_()
    opt2 = fresh(W2, b2)
    opt2.load_state_dict(state)
    for x in xs[10:]:
        for w_, b_, o in ((W, b, opt), (W2, b2, opt2)):
            o.zero_grad()
            tms_loss(w_, b_, x).backward()
            o.step()
    torch.testing.assert_close(W2, W)


@pytest.mark.parametrize("kwargs, word", [
    (dict(lr=-1.0), "lr"), (dict(lr=float("nan")), "lr"), (dict(betas=(1.0, 0.9)), "betas[0]"),
    (dict(betas=(0.9, -0.1)), "betas[1]"), (dict(betas=0.9), "betas"), (dict(eps=0.0), "eps"),
    (dict(growth="exp"), "growth"), (dict(weight_decay=float("inf")), "weight_decay"),
    (dict(weight_decay=torch.zeros(2, 2)), "weight_decay"),
    (dict(weight_decay=torch.zeros(4)), "weight_decay"),
    (dict(weight_decay=torch.tensor([0.0, float("nan"), 1.0])), "weight_decay"),
    (dict(weight_decay="a"), "weight_decay"),
])
def test_bad_parameters_raise_value_error_naming_them(kwargs, word):
    W = torch.zeros(3, 5, 2, requires_grad=True)
    with pytest.raises(ValueError, match=word.replace("[", r"\[").replace("]", r"\]")):
        SignedAdamW([W], **kwargs)


def test_group_decay_checked_against_its_parameters():
    W = torch.zeros(3, 5, 2, requires_grad=True)
    b = torch.zeros(4, 5, requires_grad=True)  # 4 instances: does not fit a decay [3]
    with pytest.raises(ValueError, match="weight_decay has 3 entries"):
        SignedAdamW([{"params": [W], "weight_decay": torch.zeros(3)},
                     {"params": [b], "weight_decay": torch.zeros(3)}])
    opt = SignedAdamW([W], weight_decay=torch.zeros(3))
    with pytest.raises(ValueError, match="weight_decay"):
        opt.add_param_group({"params": [b], "weight_decay": torch.zeros(3)})
    assert len(opt.param_groups) == 1


def test_check_weight_decay_shapes():
    assert check_weight_decay(0.5) == 0.5
    assert check_weight_decay(torch.tensor(-0.5)) == -0.5
    assert check_weight_decay([0.1, -0.2]).shape == (2,)
