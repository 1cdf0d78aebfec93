"""Linear centered kernel alignment (CKA) between two representations of the same inputs.

Kornblith, Norouzi, Lee and Hinton, "Similarity of Neural Network Representations Revisited"
(ICML 2019), Eq. 4 with a linear kernel: for features X (n, p) and Y (n, q) of the same n
inputs, with K = X X^T and L = Y Y^T centred by H = I - 11^T/n,

    CKA(X, Y) = <HKH, HLH>_F / (||HKH||_F ||HLH||_F)

which equals ||Y_c^T X_c||_F^2 / (||X_c^T X_c||_F ||Y_c^T Y_c||_F) for column-centred X_c, Y_c.
It is 1 for identical features and invariant to orthogonal transforms and isotropic scaling of
either side (not to arbitrary invertible linear maps), which is why it compares layers of two
networks whose units need not line up.
"""

from __future__ import annotations

import torch

from unlearn_core.errors import UserError


def linear_cka(x: torch.Tensor, y: torch.Tensor) -> float | None:
    """CKA of features x (n, p) and y (n, q) in float64; None when either side is constant
    (its centred Gram matrix is zero, so the similarity is undefined)."""
    if x.shape[0] != y.shape[0]:
        raise UserError(f"CKA needs the same inputs on both sides: {x.shape[0]} vs {y.shape[0]}.")
    if x.shape[0] < 2:
        raise UserError("CKA needs at least two inputs.")
    k = _centred_gram(x.flatten(1))  # (n, n)
    lg = _centred_gram(y.flatten(1))  # (n, n)
    norms = torch.linalg.matrix_norm(k) * torch.linalg.matrix_norm(lg)
    if norms == 0:
        return None
    return float((k * lg).sum() / norms)


def _centred_gram(features: torch.Tensor) -> torch.Tensor:
    """H X X^T H for X (n, d): the Gram matrix of the column-centred features."""
    centred = features.double() - features.double().mean(dim=0, keepdim=True)  # (n, d)
    return centred @ centred.T
