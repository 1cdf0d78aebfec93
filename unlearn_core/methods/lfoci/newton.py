"""The block Newton step of L-FOCI unlearning, with exact curvature.

Mehta et al., "Deep Unlearning via Randomized Conditionally Independent Hessians", CVPR 2022,
Eq. 13-15, after Sekhari et al., "Remember What You Want to Forget" (2021).

Objective. Training minimises F(w) = (1/n) sum_i f(w, z_i) with each sample's loss
f(w, z) = l(w, z) + (lambda / 2) |w|^2: the regulariser sits inside every sample's loss, as in
Sekhari et al. and Mehta et al. Eq. 4 (SGD's weight decay lambda is that term, l the recipe's
per-sample loss). The target is the standard retrain (training.py), which minimises the same
objective over the n - k samples of D_r: F_r(w) = (1/(n-k)) sum_{z in D_r} f(w, z), whose
regulariser keeps its weight lambda. One Newton step from the trained w (taken as the minimiser,
grad F = 0, so sum_{D_r} grad f = -sum_{D_f} grad f), restricted to the block P of selected
parameters, is Eq. 13-15 with the k samples' gradients and Hessians summed:

    H'_P = (n H_P(F) - sum_{z in D_f} H_P(f(., z))) / (n - k)                        (p, p)
         = mean_{i in D_r} H_P(l(., z_i)) + lambda I
    w'_P = w_P + (1 / (n - k)) H'_P^{-1} sum_{z in D_f} (grad_P l(w, z) + lambda w_P)     (p,)
    w'_Q = w_Q for every parameter Q outside P                                    (Eq. 15)

The second line equals the first term by term (each f's Hessian is l's plus lambda I);
evaluating the retain sum directly subtracts the forget samples' Hessians exactly. The lambda I
term is the weight-decay damping of the paper's Sec. 5.1. A seeded random subset of D_r
estimates the mean without bias (but the step, which inverts it, only approximately). For
k = 1 these are Eq. 13-14 verbatim. (The replay retrain, whose batches keep the divisor b,
would instead minimise (1/(n-k)) sum_{D_r} l + (n/(n-k)) (lambda/2) |w|^2: no lambda w_P in the
gradient and n lambda / (n-k) as damping; that is not the default oracle.)

Curvature is exact, by automatic differentiation over the block only (the authors' code used a
finite-difference guess). A small block's Hessian is formed (torch.func: a vmap of
forward-over-reverse Hessian-vector products over the identity) and, where it has eigenvalues
below a floor (it is not positive definite, or barely), repaired by raising them to the floor
(eigenvalue modification, Nocedal and Wright, Numerical Optimization, Sec. 3.4; the paper's
Sec. 5.1 asks for a modified Hessian). A block above a size threshold is never formed: conjugate
gradients in their Lanczos form run on Hessian-vector products (double backward through one
retained graph) and apply the same repair within the Krylov space. The repair is either that
clamp or, the method's default, the saddle-free one (|eigenvalue|, then the floor; Dauphin et al.
2014): see `modified`.
BatchNorm layers use their running statistics (the model is in eval mode), so every loss is a
per-sample function and no buffer changes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.autograd.forward_ad as fwAD
import torch.nn.functional as F
from scipy.linalg import eigh_tridiagonal
from torch import nn

from unlearn_core.methods.lfoci.slices import LossFn

SAMPLES_PER_CHUNK = 256  # samples per forward pass in the curvature and gradient sums
_CHUNK_BYTES = 512 * 2**20  # rough bound on the tangents of one vmap chunk of the dense Hessian


@dataclass(frozen=True)
class Block:
    """The parameters P that the Newton step updates, read as one flat vector theta (p,).

    rows: Linear/Conv2d module name -> (r,) sorted row indices: its selected slices, each owning
    weight[k] (and bias[k]). whole: parameter names taken whole (selection=full).
    theta lists, in this order, each module's weight[rows] then bias[rows], then the whole ones.
    """

    rows: dict[str, torch.Tensor]
    whole: tuple[str, ...] = ()


def slice_block(slices: Iterable[tuple[str, int]]) -> Block:
    """Block of the slices (layer name, unit index)."""
    rows: dict[str, list[int]] = {}
    for layer, unit in slices:
        rows.setdefault(layer, []).append(unit)
    return Block({k: torch.tensor(sorted(set(v))) for k, v in rows.items()})


def full_block(model: nn.Module) -> Block:
    """Block of every parameter of `model`."""
    return Block({}, tuple(name for name, _ in model.named_parameters()))


def _pieces(model: nn.Module, block: Block) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
    """(parameter, rows or None for whole) in theta's order."""
    modules, params = dict(model.named_modules()), dict(model.named_parameters())
    out = []
    for name, rows in block.rows.items():
        module = modules[name]
        out += [(p, rows) for p in (module.weight, module.bias) if p is not None]
    return out + [(params[name], None) for name in block.whole]


def gather(model: nn.Module, block: Block) -> torch.Tensor:
    """theta (p,): the block's current values, detached."""
    parts = [p if rows is None else p[rows.to(p.device)] for p, rows in _pieces(model, block)]
    return torch.cat([t.detach().flatten() for t in parts])


@torch.no_grad()
def scatter_(model: nn.Module, block: Block, theta: torch.Tensor) -> None:
    """Write theta (p,) into the block's parameters of `model`, in place."""
    for (p, rows), part in zip(_pieces(model, block), _split(model, block, theta), strict=True):
        if rows is None:
            p.copy_(part)
        else:
            p[rows.to(p.device)] = part


def _split(model: nn.Module, block: Block, theta: torch.Tensor) -> list[torch.Tensor]:
    """theta (p,) -> one tensor per piece, shaped like weight[rows] (r, ...) or the parameter."""
    shapes = [p.shape if r is None else (len(r), *p.shape[1:]) for p, r in _pieces(model, block)]
    sizes = [math.prod(s) for s in shapes]
    return [t.view(s) for t, s in zip(theta.split(sizes), shapes, strict=True)]


def block_logits(
    model: nn.Module, block: Block, theta: torch.Tensor, x: torch.Tensor
) -> torch.Tensor:
    """Logits (b, classes) of `model` on x with the block's parameters read from theta (p,),
    differentiable in theta alone.

    A selected row's output is recomputed from theta by a forward hook (its cost grows with the
    rows, not with the layer); whole parameters are swapped in by torch.func.functional_call.
    """
    modules = dict(model.named_modules())
    parts = iter(_split(model, block, theta))
    handles = []
    try:
        for name, rows in block.rows.items():
            module = modules[name]
            weight = next(parts)
            bias = next(parts) if module.bias is not None else None
            hook = _row_hook(rows.to(theta.device), weight, bias)
            handles.append(module.register_forward_hook(hook))
        whole = {name: next(parts) for name in block.whole}
        return torch.func.functional_call(model, whole, (x,))
    finally:
        for handle in handles:
            handle.remove()


def _row_hook(rows: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor | None):
    def hook(module, inputs, output):
        if isinstance(module, nn.Linear):
            return output.index_copy(output.dim() - 1, rows, F.linear(inputs[0], weight, bias))
        if module.groups == 1:
            return output.index_copy(1, rows, module._conv_forward(inputs[0], weight, bias))
        # a grouped convolution's rows read different input groups: recompute the whole layer
        full_bias = None if bias is None else module.bias.index_copy(0, rows, bias)
        return module._conv_forward(inputs[0], module.weight.index_copy(0, rows, weight), full_bias)

    return hook


def _chunks(x: torch.Tensor, y: torch.Tensor):
    return zip(x.split(SAMPLES_PER_CHUNK), y.split(SAMPLES_PER_CHUNK), strict=True)


def _summed_loss(model: nn.Module, block: Block, xs: torch.Tensor, ys: torch.Tensor, loss_fn):
    """theta -> sum of the per-sample losses on (xs, ys), as a function of the block."""
    return lambda theta: loss_fn(block_logits(model, block, theta, xs), ys).sum()


def block_gradient(model, block, theta, x, y, loss_fn: LossFn) -> torch.Tensor:
    """sum_i grad_theta l(z_i) over the samples x (b, C, H, W), y (b,) -> (p,)."""
    total = torch.zeros_like(theta)
    for xs, ys in _chunks(x, y):
        total += torch.func.grad(_summed_loss(model, block, xs, ys, loss_fn))(theta)
    return total


def full_gradient(
    model: nn.Module, x: torch.Tensor, y: torch.Tensor, loss_fn: LossFn
) -> dict[str, torch.Tensor]:
    """sum_i grad_w l(z_i) for every parameter w of `model` (name -> tensor shaped like it)."""
    params = {name: p.detach() for name, p in model.named_parameters()}

    def summed(ps, xs, ys):
        return loss_fn(torch.func.functional_call(model, ps, (xs,)), ys).sum()

    total = {name: torch.zeros_like(p) for name, p in params.items()}
    for xs, ys in _chunks(x, y):
        for name, g in torch.func.grad(summed)(params, xs, ys).items():
            total[name] += g
    return total


def dense_hessian(model, block, theta, x, y, loss_fn: LossFn) -> torch.Tensor:
    """sum_i Hessian_theta l(z_i) over the samples -> (p, p) float64, exact (torch.func).

    Each vmap call evaluates the network once and pushes a chunk of directions through the part
    downstream of the block; the chunk is as large as _CHUNK_BYTES allows for those tangents.
    """
    p = theta.numel()
    eye = torch.eye(p, device=theta.device, dtype=theta.dtype)
    per_sample = 4 * 4 * _tangent_numel(model, block, theta, x[:1])  # bytes per direction
    total = torch.zeros(p, p, dtype=torch.float64, device=theta.device)
    for xs, ys in _chunks(x, y):
        grad_fn = torch.func.grad(_summed_loss(model, block, xs, ys, loss_fn))

        def hvp(v, grad_fn=grad_fn):
            return torch.func.jvp(grad_fn, (theta,), (v,))[1]

        chunk = max(1, min(p, _CHUNK_BYTES // (per_sample * len(ys))))
        total += torch.func.vmap(hvp, chunk_size=chunk)(eye).double()
    return (total + total.T) / 2  # symmetric up to rounding; eigh reads one triangle


def _tangent_numel(model: nn.Module, block: Block, theta: torch.Tensor, x1: torch.Tensor) -> int:
    """Elements of the module outputs that depend on the block, for one input: the memory one
    Hessian direction needs per sample (measured by forward-mode AD)."""
    total = 0

    def count(_module, _inputs, output):
        nonlocal total
        if isinstance(output, torch.Tensor) and fwAD.unpack_dual(output).tangent is not None:
            total += output.numel()

    handles = [m.register_forward_hook(count) for m in model.modules()]
    try:
        with torch.no_grad(), fwAD.dual_level():
            block_logits(model, block, fwAD.make_dual(theta, torch.ones_like(theta)), x1)
    finally:
        for handle in handles:
            handle.remove()
    return max(total, 1)


class RetainedHvp:
    """v (p,) -> sum_i Hessian_theta l(z_i) v, by double backward through autograd graphs built
    once (one per chunk of samples) and kept, so a CG iteration re-runs only the block's part."""

    def __init__(self, model, block, theta, x, y, loss_fn: LossFn):
        self.theta = theta.detach().clone().requires_grad_(True)
        self.grads = []
        for xs, ys in _chunks(x, y):
            loss = _summed_loss(model, block, xs, ys, loss_fn)(self.theta)
            self.grads.append(torch.autograd.grad(loss, self.theta, create_graph=True)[0])

    def __call__(self, v: torch.Tensor) -> torch.Tensor:
        v = v.to(self.theta.dtype)
        return sum(torch.autograd.grad(g, self.theta, v, retain_graph=True)[0] for g in self.grads)


REPAIRS = ("clamp", "abs")


def modified(values: torch.Tensor, floor: float, repair: str) -> torch.Tensor:
    """Eigenvalues (j,) of a symmetric matrix, made >= floor (Nocedal and Wright, Sec. 3.4):
    "clamp" raises each value below the floor to it; "abs" first takes absolute values, so a
    negative-curvature direction keeps its curvature's scale instead of the floor's (a far
    shorter step there; saddle-free Newton, Dauphin et al. 2014). Positive definite matrices
    with every eigenvalue >= floor are unchanged either way."""
    return (values.abs() if repair == "abs" else values).clamp_min(floor)


@dataclass
class NewtonStep:
    """The solved step (p,) and how it was solved, for the run report."""

    step: torch.Tensor  # (p,) w'_P - w_P (before noise)
    solver: str  # "dense" (formed, eigen-decomposed) or "cg" (conjugate gradients)
    repaired: bool  # H'_P had curvature below the floor and was modified
    detail: dict = field(default_factory=dict)  # JSON-able solver facts


def newton_step(
    model: nn.Module,
    block: Block,
    forget: tuple[torch.Tensor, torch.Tensor],
    retain: tuple[torch.Tensor, torch.Tensor],
    loss_fn: LossFn,
    *,
    n: int,
    weight_decay: float,
    floor: float,
    repair: str,
    dense_max: int,
    cg_iters: int,
    cg_tol: float,
) -> NewtonStep:
    """Eq. 13-14 on the block: (1 / (n - k)) H'_P^{-1} sum_{z in D_f} grad_P f(w, z), f = l +
    (weight_decay / 2) |w|^2 the per-sample loss, H'_P = mean_retain H_P(l) + weight_decay I.

    forget: (k, C, H, W) normalised images and (k,) labels of D_f; retain: those of D_r or of
    its random subset (the curvature's mean); n: training samples the model was fitted on;
    floor: smallest eigenvalue H'_P may keep; repair: how smaller ones are modified (`modified`).
    """
    theta = gather(model, block)
    k, s = len(forget[1]), len(retain[1])
    damping = weight_decay  # the regulariser's curvature: lambda I, its weight kept in F_r
    # each removed sample's gradient includes its share of the regulariser, lambda w_P
    removed = block_gradient(model, block, theta, *forget, loss_fn) + k * weight_decay * theta
    rhs = (removed / (n - k)).double()  # (p,)
    if theta.numel() <= dense_max:
        hessian = dense_hessian(model, block, theta, *retain, loss_fn) / s  # (p, p)
        hessian += damping * torch.eye(theta.numel(), dtype=hessian.dtype, device=hessian.device)
        values, vectors = torch.linalg.eigh(hessian)  # (p,), (p, p)
        clamped = int((values < floor).sum())
        step = vectors @ ((vectors.T @ rhs) / modified(values, floor, repair))
        detail = {"min_eigenvalue": float(values[0]), "max_eigenvalue": float(values[-1])}
        detail["clamped_eigenvalues"] = clamped
        return NewtonStep(step.to(theta.dtype), "dense", clamped > 0, detail)
    hvp = RetainedHvp(model, block, theta, *retain, loss_fn)
    step, detail = conjugate_gradient(
        lambda v: hvp(v).double() / s + damping * v, rhs, floor, repair, cg_iters, cg_tol
    )
    return NewtonStep(step.to(theta.dtype), "cg", detail["clamped_eigenvalues"] > 0, detail)


def conjugate_gradient(
    op: Callable[[torch.Tensor], torch.Tensor],
    b: torch.Tensor,
    floor: float,
    repair: str,
    iters: int,
    tol: float,
) -> tuple[torch.Tensor, dict]:
    """x ~ op~^{-1} b for a symmetric operator op and b (p,), where op~ is op with every
    eigenvalue below `floor` raised to it: conjugate gradients in their Lanczos form.

    j Lanczos steps (full reorthogonalisation) give an orthonormal basis Q (p, j) of the Krylov
    space span{b, op b, ...} and T = Q^T op Q (j, j), tridiagonal; x = Q T~^{-1} Q^T b with T~
    the eigenvalue-clamped T. While no Ritz value of T falls below the floor, x is exactly the
    CG iterate (Golub and Van Loan, Sec. 11.3); otherwise the clamp that the dense solver
    applies to the whole Hessian is applied within the Krylov space. Stops when the Krylov
    residual estimate beta_j |e_j^T y| <= tol |b|, when the space is exhausted, or after
    `iters` steps.
    """
    b_norm = float(b.norm())
    if b_norm == 0:
        return torch.zeros_like(b), {"iterations": 0}
    basis = [b / b_norm]  # the columns of Q
    alphas, betas = [], []
    x, detail = torch.zeros_like(b), {"iterations": 0}
    for j in range(1, iters + 1):
        w = op(basis[-1])
        alphas.append(float(basis[-1] @ w))
        q = torch.stack(basis, dim=1)  # (p, j)
        w -= q @ (q.T @ w)  # full reorthogonalisation: keeps Q orthonormal, no ghost values
        w -= q @ (q.T @ w)  # twice is enough (Giraud et al., "twice is enough")
        beta = float(w.norm())
        values, vectors = eigh_tridiagonal(np.array(alphas), np.array(betas))  # Ritz values
        values, vectors = torch.from_numpy(values), torch.from_numpy(vectors)  # (j,), (j, j)
        y = vectors @ (b_norm * vectors[0] / modified(values, floor, repair))  # (j,)
        x = q @ y.to(q.device, q.dtype)
        estimate = beta * abs(float(y[-1])) / b_norm
        detail = {
            "iterations": j,
            "relative_residual": estimate,
            "min_eigenvalue": float(values[0]),
            "max_eigenvalue": float(values[-1]),
            "clamped_eigenvalues": int((values < floor).sum()),
        }
        if estimate <= tol or beta <= 1e-12 * b_norm:
            break
        basis.append(w / beta)
        betas.append(beta)
    return x, detail
