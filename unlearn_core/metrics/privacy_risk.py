"""Privacy risk score (Song and Mittal, "Systematic Evaluation of Privacy Risks of Machine Learning
Models", USENIX Security 2021, Sec. 6; as used by Thudi et al., Unrolling SGD, Sec. 4.3 and 8.4).

The score of a sample is the posterior probability that it was a training member given the
model's output, under a prior of one half: r = P_in(v) / (P_in(v) + P_out(v)), with v the
modified entropy (Song and Mittal, Eq. 8) of the **softmax probabilities** (the unrolling-sgd
reference code feeds raw logits) and P_in, P_out its per-class distributions over members and
non-members of a shadow model, estimated by histograms (Eq. 13-15). The shadow model is trained by
the target's own recipe on a seeded half of the training set; the other half, which it never saw,
gives the non-members, so the test set stays untouched. Shadow weights are cached per checkpoint.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from unlearn_core.checkpoint import read_weights, save_model
from unlearn_core.data import ImageDataset
from unlearn_core.metrics.accuracy import predict_logits
from unlearn_core.request import ForgetRequest
from unlearn_core.training import TrainedModel, initial_model, train

LOG_FLOOR = 1e-30  # keeps log(0) finite for saturated probabilities
VALUE_FLOOR = 1e-10  # log-spaced bins need positive values (Song and Mittal's choice)
F64 = torch.float64


def modified_entropy(probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """(n, k) softmax probabilities, (n,) labels -> (n,) Mentr = -(1 - p_y) log p_y
    - sum_{i != y} p_i log(1 - p_i); low for a confident correct prediction, high when wrong."""
    probs = probs.double()
    p_y = probs.gather(1, labels[:, None]).squeeze(1)  # (n,)
    others = probs * torch.log((1 - probs).clamp_min(LOG_FLOOR))  # (n, k)
    others = others.sum(1) - others.gather(1, labels[:, None]).squeeze(1)
    return -(1 - p_y) * torch.log(p_y.clamp_min(LOG_FLOOR)) - others


@dataclass(frozen=True)
class RiskHistograms:
    """Per class c: bin edges (num_bins + 1,) and the fraction of members and of non-members
    whose value falls in each bin (num_bins,); stacked over classes: (k, num_bins [+ 1])."""

    edges: torch.Tensor  # (k, num_bins + 1)
    members: torch.Tensor  # (k, num_bins)
    nonmembers: torch.Tensor  # (k, num_bins)

    @classmethod
    def fit(
        cls,
        member_values: torch.Tensor,
        member_labels: torch.Tensor,
        nonmember_values: torch.Tensor,
        nonmember_labels: torch.Tensor,
        num_classes: int,
        num_bins: int = 5,
        log_bins: bool = True,
    ) -> RiskHistograms:
        """Bins span each class's smallest to largest value over members and non-members,
        equally spaced in log(value) when log_bins (Song and Mittal's default), else linearly."""
        edges, members, nonmembers = [], [], []
        for c in range(num_classes):
            tr = member_values[member_labels == c].double()
            te = nonmember_values[nonmember_labels == c].double()
            if log_bins:
                tr, te = tr.clamp_min(VALUE_FLOOR), te.clamp_min(VALUE_FLOOR)
            both = torch.cat([tr, te])
            low, high = (float(both.min()), float(both.max())) if both.numel() else (1.0, 1.0)
            if log_bins:
                e = torch.logspace(math.log10(low), math.log10(high), num_bins + 1, 10.0, dtype=F64)
            else:
                e = torch.linspace(low, high, num_bins + 1, dtype=F64)
            edges.append(e)
            members.append(_fractions(tr, e))
            nonmembers.append(_fractions(te, e))
        return cls(torch.stack(edges), torch.stack(members), torch.stack(nonmembers))

    def score(self, values: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """(n,) values and labels -> (n,) risk scores in [0, 1]. A value outside its class's range
        falls in the nearest edge bin; a bin empty in both histograms borrows the nearest non-empty
        bin (the lower one first at equal distance); a class with no samples at all scores 0.5."""
        out = torch.empty(values.numel(), dtype=torch.float64)
        for i, (v, c) in enumerate(zip(values.double().tolist(), labels.tolist(), strict=True)):
            out[i] = self._score_one(v, c)
        return out

    def _score_one(self, value: float, c: int) -> float:
        edges, p_in, p_out = self.edges[c], self.members[c], self.nonmembers[c]
        bins = p_in.numel()
        index = int(torch.searchsorted(edges, torch.tensor([value], dtype=edges.dtype), right=True))
        index = min(max(index - 1, 0), bins - 1)
        for distance in range(bins):
            for j in (index - distance, index + distance):
                if 0 <= j < bins and p_in[j] + p_out[j] > 0:
                    return float(p_in[j] / (p_in[j] + p_out[j]))
        return 0.5


def _fractions(values: torch.Tensor, edges: torch.Tensor) -> torch.Tensor:
    """Fraction of `values` in each bin [e_j, e_{j+1}) (the last bin closed); zeros if empty."""
    bins = edges.numel() - 1
    index = torch.searchsorted(edges, values, right=True) - 1
    index = index.clamp(0, bins - 1)  # the maximum sits on the last edge: last bin
    counts = torch.bincount(index, minlength=bins).double()
    return counts / max(values.numel(), 1)


def cache_dir() -> Path:
    """$UNLEARN_CACHE_DIR, else ~/.cache/unlearning-workbench."""
    default = Path.home() / ".cache" / "unlearning-workbench"
    return Path(os.environ.get("UNLEARN_CACHE_DIR") or default)


def shadow_split(n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """-> (members (n // 2,), non-members (n - n // 2,)): a seeded split of the training set."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(2_000_000_011 + seed))
    return order[: n // 2].sort().values, order[n // 2 :].sort().values


def shadow_model(
    trained: TrainedModel,
    data: ImageDataset,
    cache_key: str | None,
    *,
    progress: Callable[[float, str], None] | None = None,
) -> tuple[nn.Module, bool]:
    """-> (the shadow model, whether it came from the cache). Trained by `trained`'s recipe on
    the member half of shadow_split; cached under cache_key (the checkpoint's sha256)."""
    path = cache_dir() / "shadow" / f"{cache_key}.safetensors" if cache_key else None
    model = initial_model(trained.arch, data, trained.recipe.seed)
    if path is not None and path.is_file():
        tensors, _ = read_weights(path)
        model.load_state_dict({k.removeprefix("model."): v for k, v in tensors.items()})
        return model.eval(), True
    members, _ = shadow_split(data.train_y.numel(), trained.recipe.seed)
    half = dataclasses.replace(data, train_x=data.train_x[members], train_y=data.train_y[members])
    shadow = train(trained.arch, half, trained.recipe, progress=progress, probes=False).model
    if path is not None:
        save_model(shadow, path, {"shadow_of": cache_key, "arch": trained.arch})
    return shadow, False


def fit_shadow_histograms(shadow: nn.Module, data: ImageDataset, seed: int) -> RiskHistograms:
    """Histograms of the shadow model's modified entropy on its members and non-members."""
    members, nonmembers = shadow_split(data.train_y.numel(), seed)
    probs = torch.softmax(predict_logits(shadow, data, "train"), dim=1)  # (n, k)
    values = modified_entropy(probs, data.train_y)  # (n,)
    return RiskHistograms.fit(
        values[members],
        data.train_y[members],
        values[nonmembers],
        data.train_y[nonmembers],
        data.num_classes,
    )


def privacy_risk(
    trained: TrainedModel,
    data: ImageDataset,
    request: ForgetRequest,
    models: dict[str, nn.Module | None],
    cache_key: str | None,
    *,
    progress: Callable[[float, str], None] | None = None,
) -> dict:
    """Privacy risk scores of the forget set under each named model (None entries stay None):
    {name: {mean, scores: [..]}, ..., shadow: {cached, members, nonmembers, num_bins}}."""
    shadow, cached = shadow_model(trained, data, cache_key, progress=progress)
    histograms = fit_shadow_histograms(shadow, data, trained.recipe.seed)
    forget = request.forget_indices
    labels = data.train_y[forget]
    report = {}
    for name, model in models.items():
        if model is None:
            report[name] = None
            continue
        probs = torch.softmax(predict_logits(model, data, "train", forget), dim=1)  # (k, classes)
        scores = histograms.score(modified_entropy(probs, labels), labels)  # (k,)
        report[name] = {"mean": float(scores.mean()), "scores": scores.tolist()}
    n = data.train_y.numel()
    report["shadow"] = {
        "cached": cached,
        "members": n // 2,
        "nonmembers": n - n // 2,
        "num_bins": histograms.members.shape[1],
    }
    if progress:
        progress(1.0, "privacy risk scores")
    return report
