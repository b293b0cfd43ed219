"""Recipes: config -> sampler + model + loss -> ``train()``. One function per experiment family.

These are the only places that know how the pieces fit together, so a chapter's
training cell is one line and the same code path runs on CPU and GPU.
"""

from __future__ import annotations

import numpy as np
import torch

from .configs import DenoiserConfig, ToyModelConfig, TrainConfig, resolve_device
from .data import KHotNoise, SparseUniform, denoising_target
from .losses import ImportanceWeightedMSE, RebalancedLoss, denoising_mse, softmax_cross_entropy
from .models import Denoiser, ToyModel
from .train import History, evaluate, train


def train_toy_model(config: ToyModelConfig, train_config: TrainConfig, *, seed: int = 0,
                    device="auto", progress: bool = True, description: str = "toy model",
                    eval_batches: int = 0) -> tuple[ToyModel, History, np.ndarray | None]:
    """Train every instance of a TMS toy model; return (model, history, eval_loss).

    ``eval_loss`` is the per-instance loss ``[I]`` on ``eval_batches`` fresh batches of
    ``train_config.batch_size`` after training (``None`` when ``eval_batches == 0``);
    use it to pick the best of several restarts.
    """
    dev = resolve_device(device)
    sampler = SparseUniform(config.feature_probability_matrix, seed=seed, device=dev)
    model = ToyModel(config.n_features, config.n_hidden, config.n_instances,
                     activation=config.activation, seed=seed, device=dev)
    loss = ImportanceWeightedMSE(config.importance_matrix).to(dev)
    history = train(model, sampler, loss, train_config, device=dev, progress=progress,
                    description=description)
    eval_loss = None
    if eval_batches:
        eval_sampler = SparseUniform(config.feature_probability_matrix, seed=seed + 10_007, device=dev)
        eval_loss = evaluate(model, eval_sampler, loss, batch_size=train_config.batch_size,
                             n_batches=eval_batches)
    return model, history, eval_loss


def best_per_group(loss: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Index of the lowest-loss instance of each group (restarts of one setting).

    ``loss: [I]``, ``groups: [I]`` integer labels; returns ``[G]`` instance indices, groups
    in sorted label order. Best-of-k restarts are more instances plus this arg-min.
    """
    loss, groups = np.asarray(loss), np.asarray(groups)
    if loss.shape != groups.shape:
        raise ValueError(f"loss {loss.shape} and groups {groups.shape} must have the same shape")
    out = []
    for g in np.unique(groups):
        members = np.flatnonzero(groups == g)
        out.append(members[np.argmin(loss[members])])
    return np.array(out, dtype=np.int64)


# ---------------------------------------------- chapter 2: phase change
def all_but_worst_per_group(loss: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Indices of every instance except the highest-loss one of each group (the paper's
    "train ten models, discard the one with the highest loss"). Groups of one are kept."""
    loss, groups = np.asarray(loss), np.asarray(groups)
    if loss.shape != groups.shape:
        raise ValueError(f"loss {loss.shape} and groups {groups.shape} must have the same shape")
    keep = np.ones(loss.shape, dtype=bool)
    for g in np.unique(groups):
        members = np.flatnonzero(groups == g)
        if members.size > 1:
            keep[members[np.argmax(loss[members])]] = False
    return np.flatnonzero(keep)


def phase_grid_config(n_features: int, n_hidden: int, extra_importance, densities, restarts: int,
                      activation: str = "relu") -> tuple[ToyModelConfig, np.ndarray]:
    """One ``ToyModelConfig`` whose instances are every (r, s) grid point × ``restarts``.

    The first n - 1 features have importance 1, the last ("extra") one r; every feature
    has density s. Instance order: r slowest, then s, then restart. Returns the config
    and ``group [I]``, the flat grid-point index (r_index * len(densities) + s_index) of
    each instance.
    """
    r = np.asarray(extra_importance, dtype=np.float64)
    s = np.asarray(densities, dtype=np.float64)
    if r.ndim != 1 or s.ndim != 1 or r.size == 0 or s.size == 0:
        raise ValueError("extra_importance and densities must be non-empty 1-D sequences")
    from .configs import check_positive_int
    k = check_positive_int("restarts", restarts)
    rr, ss = (v.reshape(-1) for v in np.meshgrid(r, s, indexing="ij"))
    rr, ss = np.repeat(rr, k), np.repeat(ss, k)
    importance = np.ones((rr.size, n_features))
    importance[:, -1] = rr
    probability = np.repeat(ss[:, None], n_features, axis=1)
    config = ToyModelConfig(n_features, n_hidden, n_instances=rr.size, feature_probability=probability,
                            importance=importance, activation=activation, require_superposition=True)
    return config, np.repeat(np.arange(r.size * s.size), k)


# ----------------------------------------------------------------------------- chapter 3: geometry


def make_sampler(config, *, seed: int = 0, device="cpu", shared: bool = False):
    """The data a config describes: ``SparseUniform`` for a ``ToyModelConfig`` (or, with
    ``shared=True``, its common-random-numbers twin ``SharedSparseUniform``), ``FeatureSets``
    for a ``FeatureSetsConfig``."""
    from .configs import FeatureSetsConfig
    from .data import FeatureSets, SharedSparseUniform

    if isinstance(config, FeatureSetsConfig):
        if shared:
            raise ValueError("shared=True is only available for a ToyModelConfig (independent features)")
        return FeatureSets(config.set_sizes, config.kinds, config.set_probability_matrix, seed=seed, device=device)
    if isinstance(config, ToyModelConfig):
        kind = SharedSparseUniform if shared else SparseUniform
        return kind(config.feature_probability_matrix, seed=seed, device=device)
    raise ValueError(f"config must be a ToyModelConfig or FeatureSetsConfig, got {type(config).__name__}")


def train_toy_model_from(config, train_config: TrainConfig, *, initial_W: dict | None = None, seed: int = 0,
                         device="auto", progress: bool = True, description: str = "toy model",
                         eval_batches: int = 0, eval_shared: bool = False
                         ) -> tuple[ToyModel, History, np.ndarray | None]:
    """``train_toy_model`` for any toy-model config, optionally starting instances from given weights.

    config        ``ToyModelConfig`` (independent features) or ``FeatureSetsConfig``
                  (correlated / anticorrelated sets); the data is ``make_sampler(config)``
    initial_W     ``{instance: W0 [n, m]}``: these instances start at W0 (b = 0) instead of
                  the random init, e.g. to follow one geometry's basin of attraction
    eval_batches  if > 0, return the per-instance loss ``[I]`` on that many fresh batches
    eval_shared   evaluate with common random numbers (``SharedSparseUniform``) so that
                  losses of instances with the same feature probabilities are compared
                  on identical inputs
    """
    dev = resolve_device(device)
    model = ToyModel(config.n_features, config.n_hidden, config.n_instances,
                     activation=config.activation, seed=seed, device=dev)
    for k, W0 in (initial_W or {}).items():
        W0 = torch.as_tensor(np.asarray(W0), dtype=model.W.dtype)
        if not 0 <= int(k) < config.n_instances or W0.shape != model.W.shape[1:]:
            raise ValueError(f"initial_W: instance {k} must be in [0, {config.n_instances}) with W0 of shape "
                             f"{tuple(model.W.shape[1:])}, got shape {tuple(W0.shape)}")
        with torch.no_grad():
            model.W[int(k)] = W0.to(dev)
    loss = ImportanceWeightedMSE(config.importance_matrix).to(dev)
    history = train(model, make_sampler(config, seed=seed, device=dev), loss, train_config, device=dev,
                    progress=progress, description=description)
    eval_loss = None
    if eval_batches:
        eval_sampler = make_sampler(config, seed=seed + 10_007, device=dev, shared=eval_shared)
        eval_loss = evaluate(model, eval_sampler, loss, batch_size=train_config.batch_size, n_batches=eval_batches)
    return model, history, eval_loss


# ---------------------------------------------------------------- chapter 4: computation
def target_function(name: str):
    """The map x -> y a computation model learns: "identity", "abs" or "relu"."""
    import torch

    from .configs import TARGETS, check_choice

    check_choice("target", name, TARGETS)
    return {"identity": None, "abs": torch.abs, "relu": torch.relu}[name]


def train_relu_hidden_model(config, train_config: TrainConfig, *, seed: int = 0, device="auto",
                            progress: bool = True, description: str = "ReLU hidden layer",
                            eval_batches: int = 0):
    """Train every instance of a ``ReLUHiddenModel`` (autoencoding x); return (model, history, eval_loss).

    ``config`` is a ``ReLUHiddenConfig``; loss: importance-weighted MSE. ``eval_loss`` as in
    ``train_toy_model`` (per instance ``[I]``, on fresh data; None when ``eval_batches == 0``).
    """
    from .models import ReLUHiddenModel

    dev = resolve_device(device)
    low, high = config.value_range
    sampler = SparseUniform(config.feature_probability_matrix, low=low, high=high, seed=seed, device=dev)
    model = ReLUHiddenModel(config.n_features, config.n_hidden, config.n_instances,
                            hidden_bias=config.hidden_bias, seed=seed, device=dev)
    loss = ImportanceWeightedMSE(config.importance_matrix).to(dev)
    history = train(model, sampler, loss, train_config, device=dev, progress=progress, description=description)
    eval_loss = None
    if eval_batches:
        eval_sampler = SparseUniform(config.feature_probability_matrix, low=low, high=high,
                                     seed=seed + 10_007, device=dev)
        eval_loss = evaluate(model, eval_sampler, loss, batch_size=train_config.batch_size, n_batches=eval_batches)
    return model, history, eval_loss


def train_mlp(config, train_config: TrainConfig, *, seed: int = 0, device="auto", progress: bool = True,
              description: str = "MLP", eval_batches: int = 0):
    """Train every instance of a ``TwoLayerMLP`` on ``config.target``; return (model, history, eval_loss).

    ``config`` is an ``MLPConfig``: signed sparse data on ``value_range``, target
    y = target(x), loss mean I_i |y_i - y'_i|^q with q per instance. ``eval_loss``: per
    instance ``[I]`` on fresh data (None when ``eval_batches == 0``).
    """
    from .losses import LpLoss
    from .models import TwoLayerMLP

    dev = resolve_device(device)
    low, high = config.value_range
    sampler = SparseUniform(config.feature_probability_matrix, low=low, high=high, seed=seed, device=dev)
    model = TwoLayerMLP(config.n_features, config.n_hidden, config.n_instances,
                        hidden_activation=config.hidden_activation, out_activation=config.out_activation,
                        hidden_bias=config.hidden_bias, out_bias=config.out_bias,
                        n_active_hidden=config.n_active_hidden, init_scale=config.init_scale,
                        seed=seed, device=dev)
    loss = LpLoss(config.exponents, config.importance_matrix).to(dev)
    target = target_function(config.target)
    history = train(model, sampler, loss, train_config, target=target, device=dev, progress=progress,
                    description=description)
    eval_loss = None
    if eval_batches:
        eval_sampler = SparseUniform(config.feature_probability_matrix, low=low, high=high,
                                     seed=seed + 10_007, device=dev)
        eval_loss = evaluate(model, eval_sampler, loss, target=target, batch_size=train_config.batch_size,
                             n_batches=eval_batches)
    return model, history, eval_loss


def one_hot_responses(model, values):
    """The model's outputs when exactly one feature is active: ``[U, I, n, n_out]``.

    Entry (u, k, i, j) is output j of instance k for the input u·e_i, with u running over
    ``values`` ``[U]``. The response curves of the attenuated-ReLU report; their slopes
    are the self- and cross-gains. No gradients are recorded.
    """
    import torch

    param = next(model.parameters())
    n, n_inst = model.n_features, model.n_instances
    u = torch.as_tensor(values, dtype=param.dtype, device=param.device).reshape(-1)
    eye = torch.eye(n, dtype=param.dtype, device=param.device)
    x = u[:, None, None] * eye[None]                                     # [U, n(active), n]
    x = x.reshape(-1, 1, n).expand(-1, n_inst, n)                        # [U*n, I, n]
    with torch.no_grad():
        y = model(x)                                                     # [U*n, I, n_out]
    return y.reshape(len(u), n, n_inst, -1).transpose(1, 2).contiguous()


def best_of_restarts(model, loss, feature_probability, groups, *, value_range=(0.0, 1.0), target=None,
                     seed: int = 0, batch_size: int = 1024, n_batches: int = 20, device="auto"):
    """Pick the lowest-loss restart of every setting, comparing restarts on identical data.

    ``feature_probability: [G, n]`` one row per setting; ``groups: [I]`` the setting of each
    instance of ``model``; ``target`` a name ("abs", "relu", "identity") or a function (None:
    autoencoding). Every restart of a setting is evaluated on the same ``n_batches`` batches
    (``SharedAcrossInstances``), so the arg-min reflects what the models learned, not
    which restart drew easier data. Returns (best instance per setting ``[G]``, eval loss ``[I]``).
    """
    from .data import SharedAcrossInstances

    dev = resolve_device(device)
    low, high = value_range
    base = SparseUniform(np.asarray(feature_probability, dtype=np.float64), low=low, high=high,
                         seed=seed + 20_011, device=dev)
    fn = target_function(target) if isinstance(target, str) else target
    eval_loss = evaluate(model, SharedAcrossInstances(base, groups), loss, target=fn,
                         batch_size=batch_size, n_batches=n_batches)
    return best_per_group(eval_loss, np.asarray(groups)), eval_loss


# ---------------------------------------------------------------- chapter 5: the frustrated denoiser
def denoiser_loss(config: DenoiserConfig):
    """The loss named by ``config.loss``: a ``loss(output, target) -> [I]``."""
    if config.loss == "rebalanced":
        return RebalancedLoss(power=config.loss_power, root=config.loss_root)
    return {"mse": denoising_mse, "softmax": softmax_cross_entropy}[config.loss]


def make_denoiser(config: DenoiserConfig, *, seed: int = 0, device="auto") -> Denoiser:
    """A freshly initialised ``Denoiser`` for ``config`` (instance k drawn from (seed, k))."""
    return Denoiser(config.n_features, config.n_hidden, config.n_instances, nonlinearity=config.nonlinearity,
                    encoder_init_std=config.encoder_init_std, decoder_init_std=config.decoder_init_std,
                    seed=seed, device=resolve_device(device))


def denoiser_sampler(config: DenoiserConfig, *, seed: int = 0, device="auto") -> KHotNoise:
    return KHotNoise(config.n_features, config.n_instances, k=config.k, noise_std=config.noise_std,
                     seed=seed, device=resolve_device(device))


def train_denoiser(config: DenoiserConfig, train_config: TrainConfig, *, seed: int = 0, device="auto",
                   model: Denoiser | None = None, sampler: KHotNoise | None = None,
                   train_encoder: bool = True, progress: bool = True, description: str = "denoiser",
                   eval_batches: int = 0) -> tuple[Denoiser, KHotNoise, History, np.ndarray | None]:
    """Train a denoiser on fresh noisy k-hot batches; return (model, sampler, history, eval_loss).

    Pass ``model`` and ``sampler`` back in to continue training in stages (each stage
    is one ``train()`` call with its own schedule; the data stream continues).
    ``train_encoder=False`` freezes E for the stage (a decoder-only fit).
    ``eval_loss`` is ``[I]`` on ``eval_batches`` fresh batches from a separate stream.
    """
    dev = resolve_device(device)
    model = make_denoiser(config, seed=seed, device=dev) if model is None else model
    sampler = denoiser_sampler(config, seed=seed, device=dev) if sampler is None else sampler
    loss = denoiser_loss(config)
    model.E.requires_grad_(train_encoder)
    try:
        history = train(model, sampler, loss, train_config, target=denoising_target, device=dev,
                        progress=progress, description=description)
    finally:
        model.E.requires_grad_(True)
    eval_loss = None
    if eval_batches:
        eval_loss = evaluate_denoiser(model, config, seed=seed, batch_size=train_config.batch_size,
                                      n_batches=eval_batches)
    return model, sampler, history, eval_loss


def evaluate_denoiser(model: Denoiser, config: DenoiserConfig, *, seed: int = 0, batch_size: int = 1024,
                      n_batches: int = 10, loss=None) -> np.ndarray:
    """``[I]`` expected loss (``config``'s loss unless ``loss`` is given) on a held-out stream."""
    sampler = denoiser_sampler(config, seed=seed + 10_007, device=model.E.device)
    return evaluate(model, sampler, denoiser_loss(config) if loss is None else loss,
                    target=denoising_target, batch_size=batch_size, n_batches=n_batches)


def sign_basin_encoder(signs, centre: float) -> torch.Tensor:
    """The centre of the basin of a sign matrix: E = c · S, ``[I, h, d]`` float32."""
    return centre * torch.as_tensor(signs, dtype=torch.float32)
