"""CODEC, its randomised form L-CODEC, and FOCI greedy feature selection, in torch.

References:
    M. Azadkia and S. Chatterjee, "A simple measure of conditional dependence", Annals of
    Statistics 49(6), 2021 (arXiv:1910.12327): the estimator T_n(Y, Z | X) ("CODEC") and the
    greedy selection FOCI.
    R. Mehta, S. Pal, V. Singh and S. N. Ravi, "Deep Unlearning via Randomized Conditionally
    Independent Hessians", CVPR 2022: L-CODEC (CODEC on inputs carrying tiny Gaussian noise,
    Eq. 8) and L-FOCI (FOCI built on L-CODEC), used to pick the parameter slices to update.

Conventions shared by every function here:
    * n samples. y is (n,); a feature block is (n,) or (n, d) and is treated as (n, d).
    * Inputs of any real dtype are read as float64, and everything runs on the inputs' device
      (ranks, sorts and neighbour searches included); only the final scalars and FOCI's chosen
      indices come back to Python.
    * Neighbours are Euclidean nearest neighbours, never the sample itself. Ties among
      neighbour distances are broken uniformly at random when a `generator` is given: the
      samples are put in a random order drawn from it and the equidistant neighbour that comes
      first wins, so each tied neighbour is equally likely. With `generator=None` the tie goes
      to the lowest sample index, which makes the result deterministic.
    * `generator` must live on the inputs' device; with `generator=None` the L-CODEC noise comes
      from torch's global random state.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

# L-CODEC noise standard deviation, as a fraction of a column's smallest nonzero gap between
# distinct values: differences of two such draws never reach the gap, so ranks of distinct
# values cannot change, yet exact ties are split.
JITTER_FRACTION = 1e-3

# Upper bound on the bytes of the largest temporary of one chunk of work: it bounds memory, and
# at this size the several passes over a chunk mostly find it in the processor's cache.
_CHUNK_BYTES = 16 * 2**20
# Upper bound on the bytes of the per-candidate bookkeeping of one batch of FOCI candidates.
_BATCH_BYTES = 256 * 2**20

# In FOCI's conditional steps, neighbours are sought among each sample's nearest samples in the
# already-selected columns: the first 64, then up to 128, ..., then all, as far as needed.
SHORTLISTS = (64, 128, 256, 512)


@dataclass(frozen=True)
class FociResult:
    """FOCI's output: column indices in the order chosen, and the T value of each choice.

    `scores[0]` is the unconditional T(y, column); `scores[k]` is T(y, column | previously
    selected columns). Every score is > 0.
    """

    selected: list[int]
    scores: list[float]


def codec(
    y: torch.Tensor,
    z: torch.Tensor,
    x: torch.Tensor | None = None,
    randomized: bool = False,
    generator: torch.Generator | None = None,
) -> float:
    """Azadkia-Chatterjee coefficient T_n(y, z) or, with `x`, T_n(y, z | x).

    Args:
        y: (n,) scalar response.
        z: (n,) or (n, d_z) features whose dependence with y is measured.
        x: None, or (n,) / (n, d_x) conditioning features.
        randomized: L-CODEC (Mehta et al. 2022): add to every column of y, z and x Gaussian noise
            with standard deviation `JITTER_FRACTION` times that column's smallest nonzero gap
            between distinct values (no noise on a constant column), which splits ties at
            random and leaves the order of distinct values intact.
        generator: source of the noise and of neighbour tie-breaking (see the module notes).

    With R_i = #{j : y_j <= y_i}, L_i = #{j : y_j >= y_i}, M(i) the nearest neighbour of i in z
    (unconditional) or in (x, z) (conditional), and N(i) the nearest neighbour of i in x:
        T(y, z)     = sum_i [n min(R_i, R_M(i)) - L_i^2] / sum_i [L_i (n - L_i)]
        T(y, z | x) = sum_i [min(R_i, R_M(i)) - min(R_i, R_N(i))] / sum_i [R_i - min(R_i, R_N(i))]
    T is near 0 under (conditional) independence and near 1 when y is a function of z (given x).

    Returns 0.0 when the denominator is zero: y is constant, or (conditional case) every
    R_N(i) >= R_i, where the numerator cannot be positive and z can add nothing beyond x.

    Raises:
        ValueError: on mismatched shapes or devices, fewer than two samples, or non-finite values.
    """
    y = _as_response(y)
    n = y.shape[0]
    z = _as_matrix(z, y, "z")
    x = None if x is None else _as_matrix(x, y, "x")
    blocks = [y, z] if x is None else [y, z, x]
    finite = torch.stack([torch.isfinite(b).all() for b in blocks]).all()
    if randomized:
        blocks = [_jitter(b, generator) for b in blocks]
    if generator is not None:
        order = torch.randperm(n, generator=generator, device=y.device)
        blocks = [b[order] for b in blocks]
    rank, low = _ranks(blocks[0][:, 0])
    if x is None:
        near = _nearest(blocks[1])  # (n,)
        num = (n * torch.minimum(rank, rank[near]) - low * low).sum()
        den = (low * (n - low)).sum()
    else:
        near_x = _nearest(blocks[2])  # (n,)
        near_xz = _nearest(torch.cat([blocks[2], blocks[1]], dim=1))  # (n,)
        base = torch.minimum(rank, rank[near_x])  # (n,)
        num = (torch.minimum(rank, rank[near_xz]) - base).sum()
        den = (rank - base).sum()
    value = torch.where(den > 0, num.double() / den.clamp_min(1).double(), 0.0)
    # one transfer to the host carries both the value and the input check
    value = torch.where(finite, value, torch.nan).item()
    if value != value:
        raise ValueError("codec: inputs contain NaN or infinite values")
    return value


def foci(y: torch.Tensor, features: torch.Tensor, *args, **kwargs) -> list[int]:
    """FOCI (Azadkia & Chatterjee 2021, Sec. 5); with `randomized=True`, L-FOCI (Mehta et al.
    2022). Returns the selected column indices of `features` (n, p) in the order chosen.

    Takes the arguments of `foci_with_scores`, which describes them and the procedure.
    """
    return foci_with_scores(y, features, *args, **kwargs).selected


def foci_with_scores(
    y: torch.Tensor,
    features: torch.Tensor,
    max_features: int | None = None,
    randomized: bool = True,
    generator: torch.Generator | None = None,
    *,
    standardize: bool = True,
) -> FociResult:
    """Greedy Markov-blanket selection by CODEC: FOCI, or L-FOCI when `randomized`.

    Args:
        y: (n,) scalar response.
        features: (n, p) candidate columns.
        max_features: stop after this many columns (None: no cap; 1 is the paper's "cheap"
            variant).
        randomized: use L-CODEC (tiny per-column Gaussian noise, see `codec`).
        generator: source of the noise and of neighbour tie-breaking.
        standardize: scale every column to zero mean and unit standard deviation first, as
            the authors' R package FOCI (CRAN) does by default, so that no column dominates the
            Euclidean distances merely by its units. With `standardize=False,
            randomized=False` each score equals `codec(y, features[:, j], features[:, chosen])`
            exactly, `chosen` being the columns selected before it.

    Procedure: constant columns are dropped (they can never be selected). The first column is
    the one maximising T(y, column); each next one maximises T(y, column | selected). Selection
    stops when the best value is <= 0 (possibly at the first step, giving an empty list), when
    `max_features` columns are chosen, or when no column is left. Ties between columns go to the
    lowest index.

    Cost per step: O(p n log n) for the first, about O(n^2 log n + 64 p n) for each later one
    (see `_conditional_numerators`); O(n^2) memory.
    """
    y = _as_response(y)
    n = y.shape[0]
    features = _as_matrix(features, y, "features")
    if max_features is not None and max_features < 0:
        raise ValueError(f"foci: max_features must be >= 0, got {max_features}")
    if not (torch.isfinite(y).all() and torch.isfinite(features).all()):
        raise ValueError("foci: inputs contain NaN or infinite values")

    kept = torch.nonzero(features.amax(dim=0) > features.amin(dim=0)).squeeze(1)  # (q,)
    q = kept.numel()
    limit = q if max_features is None else min(max_features, q)
    if limit == 0:
        return FociResult(selected=[], scores=[])
    cols = features[:, kept].contiguous()  # (n, q)
    if standardize:
        cols = (cols - cols.mean(dim=0)) / cols.std(dim=0)
    if randomized:
        y, cols = _jitter(y, generator), _jitter(cols, generator)
    if generator is not None:
        order = torch.randperm(n, generator=generator, device=y.device)
        y, cols = y[order], cols[order]
    return _greedy(cols, kept, *_ranks(y[:, 0]), limit)


def _greedy(
    cols: torch.Tensor, kept: torch.Tensor, rank: torch.Tensor, low: torch.Tensor, limit: int
) -> FociResult:
    """FOCI's forward selection over the prepared columns (n, q) (`kept` (q,): their indices in
    the caller's features), the response given by its ranks and low counts (n,)."""
    n, q = cols.shape
    selected: list[int] = []
    scores: list[float] = []
    remaining = torch.arange(q, device=cols.device)  # (q,)
    dist = None  # (n, n) squared distances in the selected columns, inf on the diagonal
    while len(selected) < limit:
        if dist is None:
            num = _first_step_numerators(cols, rank, low)  # (q,)
            den = (low * (n - low)).sum()
        else:
            num, den = _conditional_numerators(cols, remaining, dist, rank)
        best = int(torch.argmax(num))
        # the denominator is shared by all candidates of a step, so the argmax uses numerators
        score = (num[best].double() / den.double()).item() if int(den) > 0 else 0.0
        if score <= 0:
            break
        col = int(remaining[best])
        selected.append(int(kept[col]))
        scores.append(score)
        remaining = torch.cat([remaining[:best], remaining[best + 1 :]])
        step = _sq_diff(cols[:, col], cols[:, col])  # (n, n)
        dist = step.fill_diagonal_(torch.inf) if dist is None else dist.add_(step)
    return FociResult(selected=selected, scores=scores)


def _as_response(y: torch.Tensor) -> torch.Tensor:
    """(n,) response -> detached float64 (n, 1); at least two samples."""
    if not isinstance(y, torch.Tensor):
        raise ValueError(f"y must be a torch tensor, got {type(y).__name__}")
    if y.dim() != 1 or y.shape[0] < 2:
        raise ValueError(f"y must be (n,) with n >= 2, got {tuple(y.shape)}")
    return y.detach().to(torch.float64)[:, None]


def _as_matrix(t: torch.Tensor, y: torch.Tensor, name: str) -> torch.Tensor:
    """(n,) or (n, d) features -> detached float64 (n, d), on y's device, with d >= 1."""
    if not isinstance(t, torch.Tensor):
        raise ValueError(f"{name} must be a torch tensor, got {type(t).__name__}")
    if t.device != y.device:
        raise ValueError(f"{name} is on {t.device} but y is on {y.device}")
    t = t.detach().to(torch.float64)
    if t.dim() == 1:
        t = t[:, None]
    if t.dim() != 2 or t.shape[1] == 0 or t.shape[0] != y.shape[0]:
        raise ValueError(
            f"{name} must be (n,) or (n, d) with n = {y.shape[0]} and d >= 1, got {tuple(t.shape)}"
        )
    return t


def _ranks(y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(n,) -> R_i = #{j : y_j <= y_i} and L_i = #{j : y_j >= y_i}, both (n,) int64."""
    ordered = torch.sort(y).values
    rank = torch.searchsorted(ordered, y, right=True)
    low = y.shape[0] - torch.searchsorted(ordered, y, right=False)
    return rank, low


def _jitter(a: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
    """(n, d) -> a plus N(0, s_k^2) noise per column k, s_k = JITTER_FRACTION * smallest gap."""
    gaps = torch.sort(a.T.contiguous(), dim=1).values.diff(dim=1)  # (d, n - 1)
    smallest = torch.where(gaps > 0, gaps, torch.inf).amin(dim=1)  # (d,)
    scale = torch.where(torch.isinf(smallest), 0.0, smallest * JITTER_FRACTION)  # (d,)
    noise = torch.randn(a.shape, generator=generator, dtype=a.dtype, device=a.device)
    return a + noise * scale


def _sq_diff(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """(r,), (n,) -> (r, n) matrix of (u_i - v_j)^2, by direct differences.

    Direct differences (not |u|^2 + |v|^2 - 2uv, as cdist's fast path does) keep the tiny
    L-CODEC offsets between tied values, and give bit-identical distances on every path here.
    """
    return (u[:, None] - v[None, :]).square_()


def _nearest(points: torch.Tensor) -> torch.Tensor:
    """(n, d) -> (n,) index of each sample's nearest other sample, ties to the lowest index."""
    n, d = points.shape
    if d == 1:
        return _nearest_1d(points.T)[0]
    out = torch.empty(n, dtype=torch.long, device=points.device)
    block = max(1, _CHUNK_BYTES // (8 * n))
    for start in range(0, n, block):
        rows = torch.arange(start, min(start + block, n), device=points.device)  # (r,)
        dist = _sq_diff(points[rows, 0], points[:, 0])  # (r, n)
        for k in range(1, d):
            dist.add_(_sq_diff(points[rows, k], points[:, k]))
        dist[torch.arange(rows.numel(), device=points.device), rows] = torch.inf
        out[rows] = dist.argmin(dim=1)  # argmin returns the first (lowest-index) minimum
    return out


def _nearest_1d(rows: torch.Tensor) -> torch.Tensor:
    """(c, n) -> (c, n): nearest neighbour of each sample within each row, by sorting.

    Same answer as a full search with ties to the lowest index: within a run of equal values the
    stable sort lists indices in increasing order, so a run's first entry is its lowest index.
    (Rows rather than columns: sorting and shifting along the contiguous axis is faster.)
    """
    c, n = rows.shape
    vals, idx = torch.sort(rows, dim=1, stable=True)  # (c, n) each
    pos = torch.arange(n, device=rows.device).expand(c, n)  # (c, n)
    gap = (vals[:, 1:] - vals[:, :-1]).square_()  # (c, n - 1) squared distance to the next one
    edge = torch.ones(c, 1, dtype=torch.bool, device=rows.device)
    starts = torch.cat([edge, gap > 0], dim=1)  # (c, n): a run of equal values starts here
    ends = torch.cat([gap > 0, edge], dim=1)  # (c, n)
    run_first = torch.where(starts, pos, 0).cummax(dim=1).values  # (c, n)
    run_last = torch.where(ends, pos, n).flip(1).cummin(dim=1).values.flip(1)  # (c, n)

    # a sample sharing its value with others: the run's lowest index other than itself
    in_run = idx.gather(1, torch.where(pos == run_first, run_first + 1, run_first).clamp_max(n - 1))
    # a sample alone with its value: the closer of the neighbouring runs (their lowest indices)
    left = idx.gather(1, torch.cat([run_first[:, :1], run_first[:, :-1]], dim=1))  # (c, n)
    right = torch.cat([idx[:, 1:], idx[:, -1:]], dim=1)  # (c, n)
    inf = torch.full((c, 1), torch.inf, dtype=gap.dtype, device=rows.device)
    d_left, d_right = torch.cat([inf, gap], dim=1), torch.cat([gap, inf], dim=1)  # (c, n) each
    alone = torch.where(
        d_left < d_right,
        left,
        torch.where(d_right < d_left, right, torch.minimum(left, right)),
    )
    chosen = torch.where(run_last > run_first, in_run, alone)  # (c, n), in sorted order
    return torch.empty_like(idx).scatter_(1, idx, chosen)


def _first_step_numerators(
    cols: torch.Tensor, rank: torch.Tensor, low: torch.Tensor
) -> torch.Tensor:
    """(n, q) candidates -> (q,) int64 sums of n min(R_i, R_M(i)) - L_i^2 (unconditional T)."""
    n, q = cols.shape
    chunk = max(1, _CHUNK_BYTES // (8 * n * 16))  # about sixteen (chunk, n) temporaries
    parts = []
    for start in range(0, q, chunk):
        near = _nearest_1d(cols[:, start : start + chunk].T.contiguous())  # (chunk, n)
        parts.append((n * torch.minimum(rank, rank[near]) - low * low).sum(dim=1))
    return torch.cat(parts)


def _conditional_numerators(
    cols: torch.Tensor, remaining: torch.Tensor, dist: torch.Tensor, rank: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Numerators (r,) and the shared denominator of T(y, candidate | selected).

    cols: (n, q) all columns; remaining: (r,) the candidates among them; dist: (n, n) squared
    distances in the selected columns with an infinite diagonal; rank: (n,) R_i.
    For each sample i the others are ranked by their selected-only distance to it, and i's
    nearest neighbour in (selected, candidate) is first looked for among the top SHORTLISTS[0].
    Adding the candidate's term only increases a distance, so if the next selected-only distance
    already exceeds the best found, no sample further down can match it. Where it does not, that
    (sample, candidate) pair searches on, down to rank SHORTLISTS[1], and so on to the end.
    The answer is that of a full search with ties to the lowest index.
    """
    n = cols.shape[0]
    sorted_dist, order = torch.sort(dist, dim=1, stable=True)  # (n, n) each
    near_sel = order[:, 0]  # (n,) N(i): lowest index among the closest (stable sort)
    base = torch.minimum(rank, rank[near_sel])  # (n,)
    den = (rank - base).sum()
    # stretches [lo, hi) of each row's ranking, each in index order so that `min` returning the
    # first minimum picks the lowest index; the diagonal ranks last (n - 1) and is never searched
    tiers, lo = [], 0
    for hi in [k for k in SHORTLISTS if k < n - 1] + [n - 1]:
        members = order[:, lo:hi].sort(dim=1).values  # (n, hi - lo)
        tiers.append((members, dist.gather(1, members), sorted_dist[:, hi]))
        lo = hi

    members, member_dist, bound = tiers[0]
    k = members.shape[1]
    flat_members, member_dist = members.flatten(), member_dist[:, :, None]  # (n k,), (n, k, 1)
    # batches bound the (n, batch) bookkeeping; chunks keep the (n, k, chunk) work tensor small
    chunk = max(1, _CHUNK_BYTES // (8 * n * k))
    batch = max(chunk, _BATCH_BYTES // (16 * n))
    parts = []
    for first in range(0, remaining.numel(), batch):
        cand = remaining[first : first + batch]  # (b,) candidate columns
        best = torch.empty(n, cand.numel(), dtype=cols.dtype, device=cols.device)  # (n, b)
        near = torch.empty(n, cand.numel(), dtype=torch.long, device=cols.device)  # (n, b)
        for start in range(0, cand.numel(), chunk):
            block = cols.index_select(1, cand[start : start + chunk])  # (n, chunk)
            trial = block.index_select(0, flat_members).view(n, k, -1)  # (n, k, chunk)
            trial.sub_(block[:, None, :]).square_().add_(member_dist)
            found, pos = trial.min(dim=1)  # (n, chunk): the first, lowest-index minimum
            best[:, start : start + chunk] = found
            near[:, start : start + chunk] = members.gather(1, pos)
        rows, which = torch.nonzero(bound[:, None] <= best, as_tuple=True)  # (m,): still unsure
        for tier in tiers[1:]:
            rows, which = _refine(cols, cand, best, near, rows, which, *tier)
        parts.append(torch.minimum(rank[:, None], rank[near]).sum(dim=0) - base.sum())
    return torch.cat(parts), den


def _refine(
    cols: torch.Tensor,
    cand: torch.Tensor,
    best: torch.Tensor,
    near: torch.Tensor,
    rows: torch.Tensor,
    which: torch.Tensor,
    members: torch.Tensor,
    member_dist: torch.Tensor,
    bound: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Search one more stretch of the ranking for the pairs (rows[m], which[m]).

    cols: (n, q) contiguous columns; cand: (b,) the batch's columns; best, near: (n, b) best
    distance and neighbour so far, updated in place; members, member_dist: (n, k) the stretch
    in index order and its selected-only distances; bound: (n,) the selected-only distance just
    after the stretch. Returns the pairs still unsure.
    """
    q = cols.shape[1]
    flat = cols.view(-1)  # (n q,): one flat index picks a (sample, column) entry
    step = max(1, _CHUNK_BYTES // (8 * members.shape[1]))
    unsure = []
    for start in range(0, rows.numel(), step):
        r, w = rows[start : start + step], which[start : start + step]  # (m,) each
        col = cand[w]  # (m,)
        stretch = members[r]  # (m, k)
        trial = flat.take(stretch * q + col[:, None])  # (m, k)
        trial.sub_(flat.take(r * q + col)[:, None]).square_().add_(member_dist[r])
        found, pos = trial.min(dim=1)  # (m,)
        found_near = stretch.gather(1, pos[:, None])[:, 0]  # (m,)
        old, old_near = best[r, w], near[r, w]  # (m,) each
        better = (found < old) | ((found == old) & (found_near < old_near))
        best[r, w] = torch.where(better, found, old)
        near[r, w] = torch.where(better, found_near, old_near)
        unsure.append(bound[r] <= torch.minimum(found, old))
    if not unsure:
        return rows, which
    keep = torch.cat(unsure)  # (m,)
    return rows[keep], which[keep]
