"""The configurations that bench/ times: the book's regimes, each built twice from one seed.

A case builds, for a seed and a device, the ``lib`` side (model, sampler, loss, target for
``lib.train``) and the reference side (``bench.reference``: a copy of the same initial
weights, the plain two-draw data of the same distribution, the loss written out), plus an
evaluation sampler with a fixed seed on which both trained models are scored.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from lib.computation.model import ReLUHiddenModel
from lib.core.features import importance_decay
from lib.core.losses import ImportanceWeightedMSE
from lib.core.sampling import SparseUniform
from lib.denoiser.config import DenoiserConfig
from lib.denoiser.data import DENOISER_NOISE_CLIP, denoising_target
from lib.tms.model import ToyModel

from . import reference

EVAL_SEED = 10_007  # one evaluation stream for every model of a case


@dataclass
class Case:
    """One timed configuration. ``flops`` counts the useful matmul FLOPs of one step."""

    name: str
    describe: str
    batch_size: int
    steps: int  # steps of each timed run (kept short: bench must run in minutes)
    book_steps: int  # length of the book's run of this regime: decides compile="auto"
    flops: float
    build: Callable[[int, torch.device], dict] | None
    missing: str | None = None  # why the case cannot be built here
    cuda_only: bool = False
    lr: float = 1e-3
    optimizer: str = "adamw"  # the reference uses AdamW, with weight decay 0 for "adam"


def matmul_flops(batch: int, instances: int, n: int, m: int) -> float:
    """Forward W x and Wᵀ h (2 matmuls) + backward (3: the input needs no gradient), 2 FLOPs per MAC."""
    return 5 * 2.0 * batch * instances * n * m


def _sparse_uniform_parts(
    p: np.ndarray,
    importance: np.ndarray,
    batch: int,
    seed: int,
    dev: torch.device,
    lib_model: torch.nn.Module,
    ref_model: torch.nn.Module,
) -> dict:
    prob = torch.as_tensor(p, dtype=torch.float32, device=dev)
    imp = torch.as_tensor(importance, dtype=torch.float32, device=dev)
    gen = torch.Generator(device=dev).manual_seed(seed)
    return {
        "model": lib_model,
        "sampler": SparseUniform(p, seed=seed, device=dev),
        "loss": ImportanceWeightedMSE(importance),
        "target": None,
        "ref_model": ref_model,
        "ref_batch": lambda: reference.sparse_uniform_batch(gen, prob, batch),
        "ref_loss": lambda out, y: reference.weighted_mse(out, y, imp),
        "ref_target": None,
        "eval_sampler": lambda: SparseUniform(
            p, seed=EVAL_SEED, device=dev, method="dense"
        ),
    }


def tms(
    name: str,
    describe: str,
    n: int,
    m: int,
    p: np.ndarray,
    importance: np.ndarray,
    *,
    batch: int = 1024,
    steps: int,
    book_steps: int,
    relu_hidden: bool = False,
) -> Case:
    """A tied TMS autoencoder (ReLU output; ReLU hidden layer too if ``relu_hidden``)."""
    n_instances = p.shape[0]

    def build(seed: int, dev: torch.device) -> dict:
        if relu_hidden:
            lib_model = ReLUHiddenModel(n, m, n_instances, seed=seed, device=dev)
        else:
            lib_model = ToyModel(n, m, n_instances, seed=seed, device=dev)
        ref_model = reference.ToyModel(
            lib_model.W, lib_model.b, relu_hidden=relu_hidden
        ).to(dev)
        return _sparse_uniform_parts(
            p, importance, batch, seed, dev, lib_model, ref_model
        )

    return Case(
        name,
        describe,
        batch,
        steps,
        book_steps,
        matmul_flops(batch, n_instances, n, m),
        build,
    )


def all_cases() -> list[Case]:
    cases = []
    # the basic experiment of chapter 1: n=20, m=5, importance 0.7^i, 7 densities x 2 restarts
    density = np.repeat([1.0, 0.3, 0.1, 0.03, 0.01, 0.003, 0.001], 2)
    cases.append(
        tms(
            "tms-20x5",
            "TMS n=20 m=5, 14 instances (chapter 1; 1-S = 1 .. 0.001)",
            20,
            5,
            np.repeat(density[:, None], 20, axis=1),
            np.tile(importance_decay(20, 0.7), (14, 1)),
            steps=200,
            book_steps=5_000,
        )
    )
    # uniform superposition (chapter 3, the notebook's 200/20): 20 densities 20^(-t), t in [0, 1]
    density = 20.0 ** -np.linspace(0, 1, 20)
    cases.append(
        tms(
            "tms-200x20",
            "TMS n=200 m=20, 20 instances (1-S = 1 .. 0.05)",
            200,
            20,
            np.repeat(density[:, None], 200, axis=1),
            np.ones((20, 200)),
            steps=40,
            book_steps=10_000,
        )
    )
    # phase diagram (chapter 2): n=2, m=1; 20 extra-feature importances x 20 densities x 10 restarts
    r, s = np.meshgrid(np.logspace(-1, 1, 20), np.logspace(-2, 0, 20), indexing="ij")
    r, s = np.repeat(r.ravel(), 10), np.repeat(s.ravel(), 10)
    cases.append(
        tms(
            "phase-2x1",
            "phase grid n=2 m=1, 20x20 points x 10 restarts = 4000 instances",
            2,
            1,
            np.repeat(s[:, None], 2, axis=1),
            np.stack([np.ones_like(r), r], axis=1),
            steps=40,
            book_steps=10_000,
        )
    )
    # privileged basis (chapter 4): best of 1000 ReLU-hidden models n=10, m=5 at one sparsity
    cases.append(
        tms(
            "privileged-10x5",
            "ReLU hidden n=10 m=5, 1000 restarts (1-S = 0.1)",
            10,
            5,
            np.full((1000, 10), 0.1),
            np.tile(importance_decay(10, 0.75), (1000, 1)),
            steps=40,
            book_steps=10_000,
            relu_hidden=True,
        )
    )
    cases.extend(denoiser_cases())
    return cases


def denoiser_cases() -> list[Case]:
    """The frustrated denoiser (chapter 5): its CPU default, d = 768, h = 256 at batch 1024
    (the size whose plateau sets the CPU's limit), and the post's d=3072, h=1024 (GPU).

    All with chapter 5's recipe: re-balanced loss with p = 4, encoder init std 0.3, Adam.
    """
    # name, d, h, instances, batch, lr, cuda only, timed steps
    sizes = [
        ("denoiser-default", 192, 64, 3, 256, 2e-2, False, 40),
        ("denoiser-768x256", 768, 256, 1, 1024, 2e-2, False, 40),
        ("denoiser-3072x1024", 3072, 1024, 3, 1024, 1e-2, True, 200),
    ]
    # book_steps: chapter 5 trains each model in one train() call of 16000 steps
    return [
        Case(
            name,
            f"denoiser d={d} h={h}, {n_instances} instances, 2-hot + noise 0.05, p=4, "
            f"Adam lr {lr:g}",
            batch,
            steps,
            16_000,
            matmul_flops(batch, n_instances, d, h),
            _denoiser_builder(d, h, n_instances, batch),
            None,
            cuda_only,
            lr=lr,
            optimizer="adam",
        )
        for name, d, h, n_instances, batch, lr, cuda_only, steps in sizes
    ]


def _denoiser_builder(d: int, h: int, n_instances: int, batch: int):
    def build(seed: int, dev: torch.device) -> dict:
        config = DenoiserConfig(
            d,
            h,
            n_instances,
            k=2,
            noise_std=0.05,
            loss_power=4.0,
            encoder_init_std=0.3,
        )
        lib_model = config.build_model(seed=seed, device=dev)
        gen = torch.Generator(device=dev).manual_seed(seed)
        return {
            "model": lib_model,
            "sampler": config.build_sampler(seed=seed, device=dev),
            "loss": config.build_loss(),
            "target": denoising_target,
            "ref_model": reference.Denoiser(lib_model.E, lib_model.D).to(dev),
            "ref_batch": lambda: reference.k_hot_noise_batch(
                gen, n_instances, d, batch, 2, 0.05, DENOISER_NOISE_CLIP, dev
            ),
            "ref_loss": lambda out, y: reference.rebalanced_loss(out, y, 4.0),
            "ref_target": torch.round,
            "eval_sampler": lambda: config.build_sampler(seed=EVAL_SEED, device=dev),
        }

    return build
