"""One unlearning run on a loaded model, end to end (`unlearn_model`): what the run a spec
names (run/unlearning.py, which both doors call) and each step of a sequence come down to.

Runs the method on a copy of the model, optionally the retrained oracle, evaluates all three
models (`measure`, shared with run/sequential.py) and assembles the typed Report
(`build_report`, the one place a report is built; run/report.py).
"""

from __future__ import annotations

import functools
import hashlib
import platform
import re
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
from torch import nn

import unlearn_core
from unlearn_core.data import ImageDataset
from unlearn_core.device import default_device
from unlearn_core.errors import UserError
from unlearn_core.methods import check_request, get_method, parse_config
from unlearn_core.metrics.distance import layer_distance
from unlearn_core.metrics.evaluate import evaluate
from unlearn_core.metrics.mia import membership_report, mia_flags
from unlearn_core.metrics.privacy_risk import privacy_risk as privacy_risk_scores
from unlearn_core.metrics.relearn import RelearnConfig, relearn_times
from unlearn_core.metrics.representations import report_summary
from unlearn_core.metrics.verification_error import verification_errors
from unlearn_core.progress import Progress, sub_progress
from unlearn_core.request import ForgetRequest
from unlearn_core.run.memory import check_config_batches
from unlearn_core.run.report import (
    Checkpoints,
    Environment,
    Forget,
    ModelMetrics,
    PerModel,
    Report,
    Timing,
    Versions,
    read_layer_distance,
    read_layer_verification,
    read_mia,
    read_mia_flags,
    read_privacy_risk,
    read_relearn_time,
)
from unlearn_core.run.report_blocks import (
    LayerDistance,
    MembershipAttacks,
    RelearnTime,
)
from unlearn_core.run.reproducible import environment
from unlearn_core.torch_utils import hash_tensor
from unlearn_core.training import TrainedModel, check_convention, retrain_without


@dataclass
class RunRecord:
    """A finished run: its report and the unlearned model (CPU, eval mode); the store replaces
    `report` with the stored one (run id, hashes) when it keeps the run."""

    report: Report
    model: nn.Module
    retrained: nn.Module | None = None


def unlearn_model(
    trained: TrainedModel,
    checkpoint_meta: dict,
    data: ImageDataset,
    request: ForgetRequest,
    method: str,
    overrides: dict[str, str] | None = None,
    *,
    oracle: bool = False,
    seed: int = 0,
    progress: Progress | None = None,
    privacy_risk: bool = False,
    relearn: RelearnConfig | None = None,
    shared_oracle: Callable[[], tuple[nn.Module, float]] | None = None,
    oracle_convention: str = "standard",
) -> RunRecord:
    """Unlearn `request` from `trained` with `method`; never changes `trained`.

    The method gets `seed` explicitly (it draws from no global generator). privacy_risk: also
    score the forget set's privacy risk (Song and Mittal) under each model, which trains (or
    reuses from the cache) a shadow model by the same recipe on half the data. relearn: also
    measure each model's relearn time (metrics/relearn.py), which trains copies. shared_oracle:
    returns the retrained model and its seconds, computed once elsewhere (a sweep shares one per
    forget set) and asked for only after unlearning and measuring the original and unlearned
    models; implies the oracle. oracle_convention: how the oracle divides a batch that lost
    samples ("standard": the mean over what it kept; "replay": the nominal b; training.py); a
    shared oracle must have been made by the same one.
    """
    check_convention(oracle_convention)
    spec = get_method(method)
    check_request(spec, request)
    config = parse_config(spec.config_cls, overrides)
    check_config_batches(config, trained.arch, data)  # before a batch that cannot fit swaps
    oracle = oracle or shared_oracle is not None
    unlearn_share = 0.45 if oracle and shared_oracle is None else 0.9
    method_progress = sub_progress(progress, 0.0, unlearn_share, spec.name)
    result, unlearn_seconds = _unlearn(spec, trained, request, data, config, seed, method_progress)
    if progress:  # before the oracle is asked for: a sweep's job waiting on it has less left
        progress(unlearn_share, "evaluating the original and unlearned models")
    alone = measure_alone(dict(original=trained.model, unlearned=result.model), data, request, seed)
    retrained, retrain_seconds = (None, None)
    if shared_oracle is not None:
        retrained, retrain_seconds = shared_oracle()
    elif oracle:
        own = (result.model, unlearn_seconds) if method == "retrain" else None
        oracle_progress = sub_progress(progress, unlearn_share, 0.9, "oracle retrain")
        retrained, retrain_seconds = _oracle(
            trained, data, request, oracle_convention, own, config, oracle_progress
        )
    setup = RunSetup(
        spec.name, asdict(config), seed, trained, checkpoint_meta, data, oracle_convention
    )
    timing = Timing(unlearn_seconds=unlearn_seconds, retrain_seconds=retrain_seconds)
    models = PerModel(trained.model, result.model, retrained)
    report = _single_report(
        setup, request, timing, models, result.info, privacy_risk, relearn, progress, alone
    )
    if progress:
        progress(1.0, "done")
    return RunRecord(report, result.model, retrained)


def _unlearn(spec, trained, request, data, config, seed: int, progress):
    """(the method's UnlearnResult, its seconds); UserError when its weights diverged."""
    start = time.perf_counter()
    result = spec.run(trained, request, data, config, seed=seed, progress=progress)
    seconds = time.perf_counter() - start
    _check_finite(spec.name, result.model, asdict(config))
    return result, seconds


def _oracle(trained, data, request, convention: str, own, config, progress):
    """A run's oracle and its seconds: the `retrain` method's own model (`own`, with its
    seconds) when it retrained by this convention, so it is not trained twice; else a retrain."""
    if own is not None and config.convention == convention:
        return own
    return oracle_retrain(trained, data, request, progress, convention=convention)


def oracle_retrain(
    trained: TrainedModel,
    data: ImageDataset,
    request: ForgetRequest,
    progress=None,
    *,
    convention: str = "standard",
    threads: int | None = None,
    reproducible: bool = False,
) -> tuple[nn.Module, float]:
    """The oracle: `trained`'s recipe replayed without what `request` leaves out, by
    `convention` (training.retrain_without); and its seconds. threads (None: as they are) and
    reproducible: as the job that asked for it runs (a sweep's shared oracle is trained in
    another thread or process, whose count would otherwise differ from the job's, and with it
    the bits of the retrain its printed command makes)."""
    from unlearn_core.run import reproducible as modes

    start = time.perf_counter()
    left_out = request.outside_retain(data.train_y.numel())
    pin = modes.pinned if reproducible else modes.torch_threads
    with pin(threads):
        retrained = retrain_without(
            trained, data, left_out, convention=convention, progress=progress
        )
    return retrained, time.perf_counter() - start


def _check_finite(name: str, model: nn.Module, config: dict) -> None:
    """UserError when a method's weights diverged (NaN or infinite); names its learning rates
    when it has some (a method without one cannot be blamed on a learning rate)."""
    if all(torch.isfinite(p).all() for p in model.state_dict().values() if p.is_floating_point()):
        return
    rates = [k for k in config if k == "lr" or k.endswith("_lr")]
    advice = (
        f"lower {' or '.join(f'--set {k}=...' for k in rates)}"
        if rates
        else "its settings or the input model lead to overflow; try other settings"
    )
    raise UserError(f"{name} produced NaN or infinite weights; {advice}.")


def dataset_sha256(data: ImageDataset) -> str:
    """sha256 over the data set's tensors (train, test and, where there is one, validation
    images and labels, with their dtypes and shapes): the content a run used, wherever it was
    read from."""
    digest = hashlib.sha256()
    val = () if data.val_y is None else (data.val_x, data.val_y)
    for tensor in (data.train_x, data.train_y, data.test_x, data.test_y, *val):
        hash_tensor(digest, tensor)
    return digest.hexdigest()


@functools.lru_cache(maxsize=1)
def code_commit() -> str | None:
    """The git commit of the code that runs (None outside a git checkout)."""
    root = Path(unlearn_core.__file__).resolve().parent.parent
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = out.stdout.strip()
    return commit if out.returncode == 0 and re.fullmatch(r"[0-9a-f]{40}", commit) else None


def _single_report(
    setup: RunSetup,
    request: ForgetRequest,
    timing: Timing,
    models: PerModel[nn.Module],
    info: dict,
    privacy_risk: bool,
    relearn: RelearnConfig | None,
    progress: Progress | None,
    alone: dict[str, dict | None],
) -> Report:
    """Measure the three models of one run and build its report, with the fields that compare
    the unlearned model with the one it came from (verification error, privacy risk, method
    info). alone: measure_alone's results for the models already measured."""
    verification = {}
    if models.retrained is not None:  # Unrolling SGD's verification error, with and without
        verification = verification_errors(models.unlearned, models.original, models.retrained)
    risk = None
    if privacy_risk:
        risk = privacy_risk_scores(
            setup.trained,
            setup.data,
            request,
            models.to_dict(),
            setup.checkpoint_meta.get("sha256"),
            progress=sub_progress(progress, 0.9, 0.92, "shadow model"),
        )
    if progress:
        progress(0.92, "evaluating")
    relearn_progress = sub_progress(progress, 0.93, 0.99, "relearn time")
    measured = measure(
        models, setup.trained, setup.data, request, setup.seed, relearn, relearn_progress, alone
    )
    return build_report(
        setup,
        request,
        timing,
        measured,
        selected_slices=info.get("selected_slices"),
        unlearning_error=info.get("unlearning_error"),
        verification_error=verification.get("verification_error", info.get("verification_error")),
        verification_error_without_update=verification.get("verification_error_without_update"),
        verification_error_per_layer=read_layer_verification(
            verification.get("verification_error_per_layer")
        ),
        privacy_risk=read_privacy_risk(risk),
        method_info={k: v for k, v in info.items() if k not in _TOP_LEVEL_INFO},
        warnings=[
            *_convention_warnings(setup, models.retrained is not None),
            *info.get("notes", []),
        ],
    )


_TOP_LEVEL_INFO = ("selected_slices", "unlearning_error", "verification_error")


def _convention_warnings(setup: RunSetup, has_oracle: bool) -> list[str]:
    """single-gradient's update is derived for the replay oracle (Thudi et al., Eq. 4: a
    removed sample's term deleted, the batch's divisor kept); against another oracle its
    verification error also counts the change of divisor, so say so."""
    if setup.method != "single-gradient" or not has_oracle or setup.oracle_convention == "replay":
        return []
    return [
        f"single-gradient targets the replay retrain; this oracle is {setup.oracle_convention}: "
        "rerun with --oracle-convention replay for its verification error"
    ]


@dataclass(frozen=True)
class RunSetup:
    """What every report of a run shares: the method and its settings, and what it started from."""

    method: str
    config: dict
    seed: int
    trained: TrainedModel
    checkpoint_meta: dict
    data: ImageDataset
    oracle_convention: str = "standard"  # of the oracle the run compares with (training.py)


@dataclass(frozen=True)
class Measured:
    """The three models compared on one forget request (report.json's blocks of that name)."""

    metrics: PerModel[ModelMetrics]
    prediction_distribution: PerModel[list[int]]
    mia: PerModel[MembershipAttacks]
    relearn_time: PerModel[RelearnTime]
    layer_distance: list[LayerDistance]
    representations: dict | None = None  # metrics.representations.report_summary


def measure(
    models: PerModel[nn.Module],
    trained: TrainedModel,
    data: ImageDataset,
    request: ForgetRequest,
    seed: int,
    relearn: RelearnConfig | None = None,
    relearn_progress: Progress | None = None,
    alone: dict[str, dict | None] | None = None,
) -> Measured:
    """Evaluate the original, unlearned and (when present) retrained models on `request`: the M
    blocks, predictions on the forget set, the membership attacks of METHODS.md section 4 (on
    shared samples), layer distances and, when `relearn` is given, relearn times (they train).
    alone: measure_alone's results for models already measured (not measured again)."""
    named = models.to_dict()
    alone = alone or {}
    rest = {k: m for k, m in named.items() if k not in alone}
    each = {**alone, **measure_alone(rest, data, request, seed)}
    raw = {k: dict(each[k]["metrics"]) if each[k] else None for k in named}
    distribution = {k: (m.pop("forget_predictions") if m else None) for k, m in raw.items()}
    metrics = PerModel.from_dict(raw, ModelMetrics.from_dict)
    relearn_time = PerModel()  # null unless asked for: it costs training time
    if relearn is not None:
        relearn_time = read_relearn_time(
            relearn_times(
                named,
                data,
                request.forget_indices,
                metrics.original.forget_acc,
                trained.recipe,
                relearn,
                progress=relearn_progress,
            )
        )
    return Measured(
        metrics=metrics,
        prediction_distribution=PerModel.from_dict(distribution),
        mia=read_mia({k: each[k]["mia"] if each[k] else None for k in named}),
        relearn_time=relearn_time,
        layer_distance=read_layer_distance(
            layer_distance(models.unlearned, models.original, models.retrained)
        ),
        representations=report_summary(named, data, request, seed),
    )


def measure_alone(
    models: dict[str, nn.Module | None], data: ImageDataset, request: ForgetRequest, seed: int
) -> dict[str, dict | None]:
    """What `measure` computes of each model by itself: name -> {"metrics": evaluate's dict,
    "mia": its membership attacks (on mia_samples(seed), the samples every model of a run
    shares)}, or None for a missing model. Each model's values depend on it alone, so a run may
    measure some models before others exist (the unlearned one before its oracle)."""
    attacks = membership_report(models, data, request, seed=seed)
    return {
        k: {"metrics": evaluate(m, data, request), "mia": attacks[k]} if m is not None else None
        for k, m in models.items()
    }


def build_report(
    setup: RunSetup, request: ForgetRequest, timing: Timing, measured: Measured, **outcome
) -> Report:
    """The one place a Report is assembled, for a single run and for a sequence.

    outcome: the fields that compare the unlearned model with the model it came from
    (selected_slices, the unlearning and verification errors, privacy_risk, method_info); a
    sequence leaves them unset (None).
    """
    trained, meta = setup.trained, setup.checkpoint_meta
    return Report(
        method=setup.method,
        config=setup.config,
        seed=setup.seed,
        dataset=setup.data.name,
        arch=trained.arch,
        device=str(default_device()),
        forget=Forget.from_dict({**request.to_dict(), "indices": request.forget_indices.tolist()}),
        timing=timing,
        metrics=measured.metrics,
        mia=measured.mia,
        mia_flags=read_mia_flags(mia_flags(measured.mia.to_dict())),
        layer_distance=measured.layer_distance,
        prediction_distribution=measured.prediction_distribution,
        relearn_time=measured.relearn_time,
        representations=measured.representations,
        checkpoints=Checkpoints(
            original_sha256=meta.get("sha256"),
            source_sha256=meta.get("source_sha256"),
            original_file=meta.get("file"),
            source_file=meta.get("source"),
        ),
        recipe=trained.recipe.to_dict(),
        recipe_recorded=meta.get("recipe_recorded", True),
        data_source=setup.data.source,
        data_sha256=dataset_sha256(setup.data),
        versions=Versions(
            unlearn_core=unlearn_core.__version__,
            torch=torch.__version__,
            python=platform.python_version(),
            git_commit=code_commit(),
        ),
        environment=Environment(**environment()),
        oracle_convention=setup.oracle_convention,
        **outcome,
    ).finite()
