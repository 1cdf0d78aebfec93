"""The top eigenvalue of the batch-loss Hessian, by power iteration on Hessian-vector products.

Thudi et al. (Unrolling SGD, Sec. 5.2-5.3, Eq. 8-9) bound the part of SGD that single-gradient
unlearning cannot undo by the spectral norm sigma of the Hessian of the batch loss, averaged
over training. For the symmetric Hessian that norm is |lambda_max|, the largest eigenvalue in
magnitude, which power iteration on H v finds without forming H (Pearlmutter's double backward).
`HessianProbe` records it on a fixed probe batch every k SGD steps during training.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch
from torch import nn

from unlearn_core.data import ImageDataset

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (b, k) logits, (b,) -> (b,)
Vector = list[torch.Tensor]  # one tensor per trainable parameter, shaped like it


def hessian_vector_product(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn
) -> Callable[[Vector], Vector]:
    """v -> H v, with H the Hessian of mean_i loss_fn(model(x), y)_i over the trainable parameters.

    x: (s, C, H, W), y: (s,). The forward pass runs once in the model's current mode on copies of
    its buffers, so BatchNorm statistics are untouched; no parameter's .grad changes.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    buffers = {name: b.clone() for name, b in model.named_buffers()}
    with torch.enable_grad():
        logits = torch.func.functional_call(model, buffers, (x,))  # (s, k)
        loss = loss_fn(logits, y).mean()
        grads = torch.autograd.grad(loss, params, create_graph=True)

    def hvp(v: Vector) -> Vector:
        return list(torch.autograd.grad(grads, params, grad_outputs=v, retain_graph=True))

    return hvp


def _dot(a: Vector, b: Vector) -> float:
    return float(sum((u * w).sum() for u, w in zip(a, b, strict=True)))


def power_iteration(
    hvp: Callable[[Vector], Vector], v: Vector, iters: int, tol: float = 1e-3
) -> tuple[float, Vector, int]:
    """-> (eigenvalue of largest magnitude (signed), its unit eigenvector, iterations used).

    Each iteration takes the Rayleigh quotient v.Hv of the unit vector v, then v <- Hv / |Hv|;
    it stops after `iters` or once the quotient changes by at most tol (relative).
    """
    norm = math.sqrt(_dot(v, v))
    v = [t / norm for t in v]
    eigenvalue = 0.0
    for i in range(1, iters + 1):
        hv = hvp(v)
        quotient = _dot(v, hv)
        hv_norm = math.sqrt(_dot(hv, hv))
        if hv_norm == 0.0:
            return 0.0, v, i
        v = [t / hv_norm for t in hv]
        converged = i > 1 and abs(quotient - eigenvalue) <= tol * abs(quotient)
        eigenvalue = quotient
        if converged:
            break
    return eigenvalue, v, i


class HessianProbe:
    """The top Hessian eigenvalue of the training loss on one fixed probe batch, recorded every
    k steps of training (Thudi et al., Sec. 5.3: sigma_avg need only be sampled every few steps).

    The probe batch and the first power-iteration vector come from their own seeded generator;
    later probes start from the previous eigenvector (warm start, few iterations). Probing
    consumes no global random numbers and changes neither the weights nor their gradients, so
    training with and without probes gives the same weights bitwise.
    """

    def __init__(
        self,
        data: ImageDataset,
        loss_fn: LossFn,
        *,
        size: int,
        iters: int,
        seed: int,
        device: torch.device,
    ):
        generator = torch.Generator().manual_seed(1_000_000_007 + seed)
        n = data.train_y.numel()
        self.indices = torch.randperm(n, generator=generator)[: min(size, n)]  # (s,)
        self.x, self.y = data.batch(self.indices, device)  # (s, C, H, W), (s,)
        self.loss_fn, self.iters, self.device = loss_fn, iters, device
        self.generator = generator
        self.vector: Vector | None = None
        self.steps: list[int] = []
        self.eigenvalues: list[float] = []
        self.iterations: list[int] = []
        self.seconds = 0.0

    def __call__(self, model: nn.Module, step: int) -> None:
        start = time.perf_counter()
        params = [p for p in model.parameters() if p.requires_grad]
        if self.vector is None:
            self.vector = [
                torch.randn(p.shape, generator=self.generator).to(self.device) for p in params
            ]
        cuda = [self.device.index or 0] if self.device.type == "cuda" else []
        with torch.random.fork_rng(devices=cuda):  # dropout draws stay out of the global RNG
            hvp = hessian_vector_product(model, self.x, self.y, self.loss_fn)
            eigenvalue, self.vector, used = power_iteration(hvp, self.vector, self.iters)
        self.steps.append(step)
        self.eigenvalues.append(eigenvalue)
        self.iterations.append(used)
        self.seconds += time.perf_counter() - start

    def record(self, total_steps: int, every: int) -> dict:
        """What a checkpoint stores: the unlearning error (Eq. 9) is computed from this alone."""
        return {
            "steps": total_steps,  # t, the number of SGD steps of the whole training
            "every": every,
            "probe_size": int(self.indices.numel()),
            "at_step": self.steps,
            "eigenvalues": self.eigenvalues,  # signed top eigenvalue of each probe
            "iterations": self.iterations,
            "seconds": self.seconds,
        }
