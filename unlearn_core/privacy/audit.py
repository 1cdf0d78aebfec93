"""A privacy audit over N models: each pool model j is unlearned by the method (seed j), and a
model is retrained without the forget set from a seed of its own (REFERENCE_SEED + j), so the
audited and the reference models are independent draws (the `retrain` method's models are not
its references). U-LiRA with the paired verdict, the official challenge score, the population
attacks, the relearning attack, ToW and SalUn's average gap are computed over all of them, each
with an interval.

`audit_member` is one model's work (what an executor runs as a task); `summarise` turns the N
results into privacy.json's content (DESIGN.md, "privacy-audit").
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass

import numpy as np

from unlearn_core.metrics.summary_stats import average_gap, mean_interval, tug_of_war
from unlearn_core.privacy.challenge import final_score
from unlearn_core.privacy.outputs import ModelOutputs, model_outputs
from unlearn_core.privacy.relearn_attack import relearn_recovery, summarise_relearn
from unlearn_core.privacy.scores import score_audit
from unlearn_core.privacy.spec import AuditSpec
from unlearn_core.privacy.summary import population_attack
from unlearn_core.progress import Progress, sub_progress

ROLES = ("original", "unlearned", "retrained")
ACCURACIES = ("forget_acc", "retain_acc", "test_acc")
REFERENCE_SEED = 10_000  # reference j is retrained from seed REFERENCE_SEED + j


@dataclass(frozen=True)
class MemberResult:
    """Pool model `seed`: its outputs as trained, unlearned and retrained (the reference of
    seed REFERENCE_SEED + seed), the relearning attack on the unlearned and the reference
    model ({"before", "after"} each; empty when not run), and the seconds each step took."""

    seed: int
    original: ModelOutputs
    unlearned: ModelOutputs
    retrained: ModelOutputs
    seconds: dict
    relearn: dict = dataclasses.field(default_factory=dict)


def audit_member(spec: AuditSpec, seed: int, progress: Progress | None = None) -> MemberResult:
    """Train (or read) pool model `seed`, retrain it without the forget set (or read it),
    unlearn the request from a copy with the method, and measure all three."""
    from unlearn_core.methods import get_method, parse_config
    from unlearn_core.request import ForgetRequest
    from unlearn_core.run.inputs import load_inputs
    from unlearn_core.run.reproducible import torch_threads

    with torch_threads(spec.threads):
        inputs = load_inputs(spec.job_spec())
        data = inputs.data
        request = ForgetRequest.from_dict(data, spec.forget)
        pool = audit_pool(spec, inputs)
        clock = _Clock()
        original = clock("train", pool.original, seed, sub_progress(progress, 0, 0.4, "model"))
        left_out = request.outside_retain(data.train_y.numel())
        retrain = sub_progress(progress, 0.4, 0.8, "retrain")
        reference = REFERENCE_SEED + seed
        retrained = clock(
            "retrain", pool.retrained, reference, left_out, spec.oracle_convention, retrain
        )
        method = get_method(spec.method)
        config = parse_config(method.config_cls, spec.overrides)
        step = sub_progress(progress, 0.8, 0.95, spec.method)
        result = clock(
            "unlearn", method.run, original, request, data, config, seed=seed, progress=step
        )
        outputs = {
            role: model_outputs(model, data, request, spec.attack_seeds)
            for role, model in zip(ROLES, (original.model, result.model, retrained), strict=True)
        }
        relearn = {}
        if spec.relearn_steps:
            relearn = {
                role: clock(
                    f"relearn {role}",
                    relearn_recovery,
                    model,
                    data,
                    request,
                    original.recipe,
                    spec.relearn(),
                    seed,
                )
                for role, model in (("unlearned", result.model), ("retrained", retrained))
            }
    return MemberResult(seed, **outputs, seconds=clock.seconds, relearn=relearn)


def audit_pool(spec: AuditSpec, inputs):
    """The pool the audit's models come from: the recipe of the audited checkpoint (or the one
    given), in the spec's store."""
    from unlearn_core.privacy.pool import ModelPool
    from unlearn_core.run.pipeline import dataset_sha256
    from unlearn_core.run.store import default_store_root

    root = spec.store_root or default_store_root()
    data = inputs.data
    return ModelPool(root, spec.pool_template(inputs.trained), data, dataset_sha256(data))


def train_pool_together(spec: AuditSpec, inputs, progress: Progress | None = None) -> bool:
    """Where the audit's N pool models train faster as one ensemble (privacy/pool_training.py,
    `trains_together`), train those it lacks, and its references, together now, so its members
    read them; -> whether it did. Otherwise nothing: each member trains its own (on Ray, in
    parallel). inputs: the spec's loaded checkpoint and data set (run/inputs.py)."""
    from unlearn_core.device import default_device
    from unlearn_core.privacy.pool_training import trains_together
    from unlearn_core.request import ForgetRequest
    from unlearn_core.run.reproducible import torch_threads

    pool = audit_pool(spec, inputs)
    seeds = list(range(spec.models))
    if not trains_together(
        pool.template.arch, inputs.data, pool.template.recipe, default_device(), seeds
    ):
        return False
    request = ForgetRequest.from_dict(inputs.data, spec.forget)
    left_out = request.outside_retain(inputs.data.train_y.numel())
    references = [REFERENCE_SEED + seed for seed in seeds]
    with torch_threads(spec.threads):
        pool.originals(seeds, sub_progress(progress, 0.0, 0.5, "pool models, together"))
        retrains = sub_progress(progress, 0.5, 1.0, "retrained models, together")
        pool.retrains(references, left_out, spec.oracle_convention, retrains)
    return True


class _Clock:
    """Calls a function and keeps its wall time under a name."""

    def __init__(self):
        self.seconds: dict[str, float] = {}

    def __call__(self, name, fn, *args, **kwargs):
        start = time.perf_counter()
        out = fn(*args, **kwargs)
        self.seconds[name] = time.perf_counter() - start
        return out


def _grid(members: list[MemberResult], role: str, name: str) -> np.ndarray:
    return np.stack([getattr(getattr(m, role), name) for m in members])  # (N, m)


def summarise(spec: AuditSpec, members: list[MemberResult], request, seconds: float) -> dict:
    """privacy.json's content from the N members (ordered by seed)."""
    rng = np.random.default_rng(0)  # the intervals' resampling: fixed, so a rerun agrees
    indices = request.forget_indices.tolist()
    phi = {role: _grid(members, role, "phi") for role in ROLES}
    scored = score_audit(phi, indices, rng, spec.margin)
    accuracy = {
        role: {k: [getattr(m, role).accuracy[k] for m in members] for k in ACCURACIES}
        for role in ROLES
    }
    tows, gaps = _gap_scores(accuracy, members)
    attacks = {**scored["attacks"], **_population(members, indices, rng)}
    if members[0].relearn:
        per_role = {r: [m.relearn[r] for m in members] for r in ("unlearned", "retrained")}
        attacks["relearn"] = summarise_relearn(per_role, spec.relearn())
    return {
        **scored,
        "models": len(members),
        "method": spec.method,
        "config": _config(spec),
        "forget": request.to_dict(),
        "attacks": attacks,
        "challenge": _with_final_score(scored["challenge"], accuracy),
        "tow": _per_model_interval(tows),
        "avg_gap": _per_model_interval(gaps),
        "accuracy": {
            role: {k: mean_interval(v) for k, v in values.items()}
            for role, values in accuracy.items()
        },
        "seeds": [m.seed for m in members],
        "reference_seeds": [REFERENCE_SEED + m.seed for m in members],
        "attack_seeds": spec.attack_seeds,
        "oracle_convention": spec.oracle_convention,
        "checkpoint_sha256": spec.checkpoint_sha256,
        "seconds": {"wall": seconds, "models": [m.seconds for m in members]},
    }


def _config(spec: AuditSpec) -> dict:
    """The method's whole configuration (defaults filled in), as a run's report records it."""
    from dataclasses import asdict

    from unlearn_core.methods import get_method, parse_config

    return asdict(parse_config(get_method(spec.method).config_cls, spec.overrides))


def _population(members: list[MemberResult], indices: list[int], rng) -> dict:
    """The loss and SVC attacks over the models (and the SVC's attack seeds)."""
    loss_runs = {role: [[getattr(m, role).loss_attack] for m in members] for role in ROLES}
    svc_runs = {role: [getattr(m, role).svc_attack for m in members] for role in ROLES}
    loss_grids = (-_grid(members, "unlearned", "loss"), -_grid(members, "retrained", "loss"))
    svc_grids = (_grid(members, "unlearned", "svc_score"), _grid(members, "retrained", "svc_score"))
    return {
        "loss": population_attack(loss_runs, loss_grids, indices, rng),
        "svc": population_attack(svc_runs, svc_grids, indices, rng),
    }


def _with_final_score(challenge: dict, accuracy: dict) -> dict:
    """The challenge's final score: F times the unlearned models' retain and test accuracy
    over the retrained models'."""
    ratios = {
        k: float(np.mean(accuracy["unlearned"][k]) / np.mean(accuracy["retrained"][k]))
        for k in ("retain_acc", "test_acc")
    }
    return {
        **challenge,
        "final_score": final_score(
            challenge["forgetting_quality"], ratios["retain_acc"], ratios["test_acc"]
        ),
        "retain_ratio": ratios["retain_acc"],
        "test_ratio": ratios["test_acc"],
    }


def _gap_scores(accuracy: dict, members: list[MemberResult]) -> tuple[list, list]:
    """Per model: ToW and SalUn's average gap against the retrained model of the same seed,
    by the sweep summary's own functions (metrics/summary_stats.py; the SVC's MIA-Efficacy
    averaged over attack seeds)."""
    from unlearn_core.run.report import Gaps

    u, r = accuracy["unlearned"], accuracy["retrained"]
    tows, gaps = [], []
    for j, m in enumerate(members):
        gap = Gaps(**{k: u[k][j] - r[k][j] for k in ACCURACIES})
        efficacy = [
            float(np.mean([s["efficacy"] for s in outputs.svc_attack]))
            for outputs in (m.unlearned, m.retrained)
        ]
        tows.append(tug_of_war(gap))
        gaps.append(average_gap(gap, *efficacy))
    return tows, gaps


def _per_model_interval(values: list[float]) -> dict:
    return {**mean_interval(values), "per_model": values}
