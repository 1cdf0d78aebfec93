"""The run report: one typed object, built once (run/pipeline.py), read through attributes.

`Report.to_dict()` is report.json's contract (DESIGN.md): every key the pipeline, sequences, the
store and the command line wrote before the report was typed, under the same names. Derived
values (`gaps_to_retrained`, `speedup_over_retrain`) are computed here, in one place, and written
back out. `Report.from_dict` reads any older report: a missing key reads as None (a missing block
as one whose fields are None), and keys it does not know are kept in `extra` and written back,
so a report from a newer version survives a round trip.

The measured blocks (`mia`, `mia_flags`, `layer_distance`, `verification_error_per_layer`,
`privacy_risk`, `relearn_time`, `job`) are typed in run/report_blocks.py: each keeps exactly the
keys its file holds, in order, adding none, so `Report.from_dict(d).to_dict() == d` for every
stored run (tests/test_typed_report.py).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, make_dataclass
from typing import Any, ClassVar, Generic, TypeVar

from unlearn_core.request import check_origin, forget_label
from unlearn_core.run.blocks import optional, plain, rows
from unlearn_core.run.report_blocks import (
    JobInfo,
    LayerDistance,
    LayerVerification,
    MembershipAttacks,
    MiaFlags,
    PrivacyRisk,
    RelearnTime,
)

T = TypeVar("T")
MODELS = ("original", "unlearned", "retrained")


@dataclass(frozen=True)
class _Part:
    """Base of the report's blocks: one field per key, unknown keys kept in `extra`.

    _LOADERS: field -> how to read its raw value (called with None for a missing key, so a
    nested block reads as one whose fields are None). _COMPUTED: keys derived from the other
    fields, ignored when read and recomputed by to_dict.
    """

    _LOADERS: ClassVar[dict[str, Callable[[Any], Any]]] = {}
    _COMPUTED: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def from_dict(cls, values: dict | None):
        rest = {k: v for k, v in (values or {}).items() if k not in cls._COMPUTED}
        known = {}
        for f in fields(cls):
            if f.name != "extra":
                raw = rest.pop(f.name, None)
                load = cls._LOADERS.get(f.name)
                known[f.name] = load(raw) if load else raw
        return cls(**known, extra=rest)

    def to_dict(self) -> dict:
        out = {f.name: plain(getattr(self, f.name)) for f in fields(self) if f.name != "extra"}
        out.update({key: plain(getattr(self, key)) for key in self._COMPUTED})
        return {**out, **self.extra}


@dataclass(frozen=True)
class PerModel(Generic[T]):
    """One value per model of a run (None where a model is missing, e.g. no oracle)."""

    original: T | None = None
    unlearned: T | None = None
    retrained: T | None = None
    extra: dict = field(default_factory=dict)

    @classmethod
    def from_dict(cls, values: dict | None, load: Callable[[Any], T] = lambda v: v) -> PerModel:
        rest = dict(values or {})
        known = {name: optional(load)(rest.pop(name, None)) for name in MODELS}
        return cls(**known, extra=rest)

    def present(self) -> dict[str, T]:
        """name -> value for the models that have one, in the order original, unlearned,
        retrained."""
        return {name: getattr(self, name) for name in MODELS if getattr(self, name) is not None}

    def to_dict(self) -> dict:
        return {**{name: plain(getattr(self, name)) for name in MODELS}, **self.extra}


@dataclass(frozen=True)
class ModelMetrics(_Part):
    """The M block of one model (unlearn_core.metrics.evaluate); accuracies in [0, 1]."""

    forget_acc: float | None = None
    retain_acc: float | None = None
    test_acc: float | None = None
    forgotten_classes_test_acc: float | None = None  # None for a sample request
    per_class_acc: list[float] | None = None  # (num_classes,) on the test split
    mia_auc: float | None = None  # loss-threshold attack on the forget set
    forget_loss: float | None = None  # mean cross-entropy on the forget set
    extra: dict = field(default_factory=dict)


GAP_KEYS = ("forget_acc", "retain_acc", "test_acc", "mia_auc", "forget_loss")

# Unlearned minus retrained for each headline metric of ModelMetrics (0 is the target): one
# float-or-None field per GAP_KEYS entry, made from the list so the two cannot drift apart.
Gaps = make_dataclass(
    "Gaps",
    [
        *((key, float | None, None) for key in GAP_KEYS),
        ("extra", dict, field(default_factory=dict)),
    ],
    bases=(_Part,),
    frozen=True,
)


def gaps_to_retrained(metrics: PerModel[ModelMetrics]) -> Gaps | None:
    """The gaps of the unlearned to the retrained model (None without the oracle)."""
    unlearned, retrained = metrics.unlearned, metrics.retrained
    if unlearned is None or retrained is None:
        return None
    values = {}
    for key in GAP_KEYS:
        u, r = getattr(unlearned, key), getattr(retrained, key)
        values[key] = u - r if u is not None and r is not None else None
    return Gaps(**values)


def metric(part: _Part | None, key: str):
    """One field of a report part by its report.json key (a table's row); None when the part is
    missing (e.g. the retrained model's without the oracle) or has no such field."""
    return getattr(part, key, None) if part is not None else None


def _metrics(raw) -> PerModel[ModelMetrics]:
    return PerModel.from_dict(raw, ModelMetrics.from_dict)


def read_mia(raw) -> PerModel[MembershipAttacks]:
    """report.json's `mia` (metrics.mia.membership_report), typed."""
    return PerModel.from_dict(raw, MembershipAttacks.from_dict)


def read_relearn_time(raw) -> PerModel[RelearnTime]:
    """report.json's `relearn_time` (metrics.relearn.relearn_times), typed."""
    return PerModel.from_dict(raw, RelearnTime.from_dict)


read_mia_flags = optional(MiaFlags.from_dict)  # report.json's `mia_flags`, typed (or None)
read_layer_distance = rows(LayerDistance.from_dict)  # report.json's `layer_distance`, typed
read_layer_verification = rows(LayerVerification.from_dict)  # `verification_error_per_layer`
read_privacy_risk = optional(PrivacyRisk.from_dict)  # report.json's `privacy_risk` (or None)


@dataclass(frozen=True)
class Timing(_Part):
    """Wall-clock seconds of the unlearning and of the oracle's retraining (None without it)."""

    unlearn_seconds: float | None = None
    retrain_seconds: float | None = None
    extra: dict = field(default_factory=dict)

    @property
    def speedup_over_retrain(self) -> float | None:
        """Retraining time over unlearning time (None without the oracle)."""
        if self.retrain_seconds and self.unlearn_seconds:
            return self.retrain_seconds / self.unlearn_seconds
        return None


@dataclass(frozen=True)
class Forget(_Part):
    """report.json's `forget` block: `ForgetRequest.to_dict()`, resolved against no data set."""

    classes: list[int] | None = None
    indices: list[int] | None = None  # a class request's too: its training images' positions
    count: int | None = None
    requester: str | None = None  # who asked for the deletion (optional, free text)
    request_date: str | None = None  # when, YYYY-MM-DD (optional)
    extra: dict = field(default_factory=dict)

    def label(self, class_names: Sequence[str] | None = None) -> str:
        """ "classes 1, 2" (with names when given) or "4 samples"."""
        return forget_label(self.classes or [], self.count, class_names)


@dataclass(frozen=True)
class Checkpoints(_Part):
    """sha256 of the original checkpoint and of the stored unlearned and retrained weights
    (filled when the run folder is written; None before, or without the oracle). Weights
    without a recipe also name the file as supplied (`source_file`, `source_sha256`): an
    upload the app re-saved as safetensors, or the .pt itself on the command line."""

    original_sha256: str | None = None
    unlearned_sha256: str | None = None
    retrained_sha256: str | None = None
    source_sha256: str | None = None  # an imported file's own bytes (the original re-saved)
    original_file: str | None = None  # the original checkpoint's file name (no folder)
    source_file: str | None = None  # the name of the file as its owner supplied it (imports)
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Versions(_Part):
    unlearn_core: str | None = None
    torch: str | None = None
    python: str | None = None
    git_commit: str | None = None  # the code's commit, when it runs from a git checkout
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Environment(_Part):
    """What else a bitwise rerun needs: CPU results are reproducible only at the same number
    of torch threads (reductions are split by thread) and with kernels of the same instruction
    set (reproducible.py; BENCHMARKS.md, "Reproducibility")."""

    threads: int | None = None  # torch.get_num_threads() during the run
    cpu_model: str | None = None  # e.g. "AMD EPYC 9654 96-Core Processor"
    cpu_capability: str | None = None  # the ISA torch's CPU kernels ran: AVX512, AVX2, DEFAULT
    pinned_isa: str | None = None  # "avx2" under --reproducible, None when not pinned
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class SequenceStep(_Part):
    """One step of a sequence of requests (run/sequential.py): its own timing, metrics (against
    the model before it), membership attacks and predictions, and `cumulative`, the M block of
    the model after it against everything forgotten so far."""

    _LOADERS: ClassVar = {
        "timing": Timing.from_dict,
        "metrics": _metrics,
        "mia": read_mia,
        "prediction_distribution": PerModel.from_dict,
        "cumulative": optional(ModelMetrics.from_dict),
    }
    _COMPUTED: ClassVar = ("gaps_to_retrained",)

    step: int | None = None
    classes: list[int] | None = None
    forgotten_so_far: list[int] | None = None
    timing: Timing = field(default_factory=Timing)
    metrics: PerModel[ModelMetrics] = field(default_factory=PerModel)
    mia: PerModel[MembershipAttacks] = field(default_factory=PerModel)
    prediction_distribution: PerModel[list[int]] = field(default_factory=PerModel)
    method_info: dict | None = None
    cumulative: ModelMetrics | None = None
    extra: dict = field(default_factory=dict)

    @property
    def gaps_to_retrained(self) -> Gaps | None:
        return gaps_to_retrained(self.metrics)


def _finite(value, path: str, found: list[str]):
    """value with non-finite floats replaced by None; their dotted paths appended to found."""
    if isinstance(value, float) and not math.isfinite(value):
        found.append(path or "value")
        return None
    if isinstance(value, dict):
        return {k: _finite(v, f"{path}.{k}" if path else str(k), found) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v, f"{path}[{i}]", found) for i, v in enumerate(value)]
    return value


def _steps(raw) -> list[SequenceStep] | None:
    return None if raw is None else [SequenceStep.from_dict(s) for s in raw]


@dataclass(frozen=True)
class Report(_Part):
    """One run's report (see the module notes); build it with run.pipeline.build_report.

    Four fields stay plain dicts because they are open-ended by design, each with its own
    owner: `config` is the method's own config dataclass as data (its keys are whatever fields
    that method, built-in or plug-in, declares), `method_info` whatever diagnostics a method
    returns, `recipe` the training Recipe's fields as the checkpoint recorded them (a newer
    Recipe adds some), and `extra` the keys this version does not know. `selected_slices`
    and `representations` are still dicts too (not yet typed; issue 25).
    """

    _LOADERS: ClassVar = {
        "forget": Forget.from_dict,
        "timing": Timing.from_dict,
        "metrics": _metrics,
        "mia": read_mia,
        "prediction_distribution": PerModel.from_dict,
        "mia_flags": read_mia_flags,
        "layer_distance": read_layer_distance,
        "verification_error_per_layer": read_layer_verification,
        "privacy_risk": read_privacy_risk,
        "relearn_time": read_relearn_time,
        "job": optional(JobInfo.from_dict),
        "sequence": _steps,
        "checkpoints": Checkpoints.from_dict,
        "versions": Versions.from_dict,
        "environment": Environment.from_dict,
        "warnings": lambda raw: list(raw or []),  # an older run has none
    }
    _COMPUTED: ClassVar = ("gaps_to_retrained", "speedup_over_retrain")

    method: str | None = None
    config: dict | None = None
    seed: int | None = None
    dataset: str | None = None
    arch: str | None = None
    device: str | None = None
    forget: Forget = field(default_factory=Forget)
    timing: Timing = field(default_factory=Timing)
    metrics: PerModel[ModelMetrics] = field(default_factory=PerModel)
    mia: PerModel[MembershipAttacks] = field(default_factory=PerModel)  # metrics.mia
    mia_flags: MiaFlags | None = None  # metrics.mia.mia_flags; None without the oracle
    layer_distance: list[LayerDistance] | None = None  # one row per parameter tensor
    prediction_distribution: PerModel[list[int]] = field(default_factory=PerModel)
    selected_slices: list[dict] | None = None  # lfoci
    unlearning_error: float | None = None
    verification_error: float | None = None
    verification_error_without_update: float | None = None
    verification_error_per_layer: list[LayerVerification] | None = None  # with the oracle
    privacy_risk: PrivacyRisk | None = None  # None unless asked for (it trains a shadow model)
    relearn_time: PerModel[RelearnTime] = field(default_factory=PerModel)  # None: not measured
    sequence: list[SequenceStep] | None = None  # the steps of a sequence of requests
    method_info: dict | None = None
    checkpoints: Checkpoints = field(default_factory=Checkpoints)
    recipe: dict | None = None
    recipe_recorded: bool | None = None
    data_source: str | None = None
    data_sha256: str | None = None  # sha256 of the data set's tensors (pipeline.dataset_sha256)
    versions: Versions = field(default_factory=Versions)
    environment: Environment = field(default_factory=Environment)
    command: str | None = None  # the command line that made the run (for an app job, its twin)
    run_id: str | None = None  # set when the run store keeps it
    created: str | None = None  # ISO time the run store kept it
    job: JobInfo | None = None  # for a run made as a job
    # what the features still know (metrics.representations.report_summary); with the oracle
    representations: dict | None = None
    warnings: list[str] = field(default_factory=list)  # one line each: shown with the run
    # how the oracle divides a batch that lost samples: "standard" or "replay" (training.py);
    # None in runs made before it was recorded (they used replay)
    oracle_convention: str | None = None
    extra: dict = field(default_factory=dict)

    @property
    def gaps_to_retrained(self) -> Gaps | None:
        return gaps_to_retrained(self.metrics)

    @property
    def speedup_over_retrain(self) -> float | None:
        return self.timing.speedup_over_retrain

    @property
    def has_oracle(self) -> bool:
        """Whether the run retrained the oracle (so retrained fields and gaps are filled)."""
        return self.metrics.retrained is not None

    def with_command(self, command: str) -> Report:
        return dataclasses.replace(self, command=command)

    def finite(self) -> Report:
        """This report with every infinite or NaN number (an infinite loss, say: a model that
        gives a sample probability 0) replaced by None and named in `warnings`: report.json
        holds only numbers JSON can."""
        found: list[str] = []
        clean = _finite(self.to_dict(), "", found)
        if not found:
            return self
        listed = ", ".join(found[:5]) + (f" and {len(found) - 5} more" if len(found) > 5 else "")
        note = f"not finite, stored as null: {listed}"
        return dataclasses.replace(Report.from_dict(clean), warnings=[*self.warnings, note])

    def with_origin(self, requester: str | None, request_date: str | None) -> Report:
        """This report with who asked for the deletion and when (request.check_origin)."""
        requester, request_date = check_origin(requester, request_date)
        forget = dataclasses.replace(self.forget, requester=requester, request_date=request_date)
        return dataclasses.replace(self, forget=forget)

    def with_job(self, job: dict) -> Report:
        """This report tagged with the job that made it (JobInfo's keys, as plain data)."""
        return dataclasses.replace(self, job=JobInfo.from_dict(job))

    def stored_as(self, run_id: str, created: str) -> Report:
        """This report under a run store's id (keeping the first time it was stored)."""
        return dataclasses.replace(self, run_id=run_id, created=self.created or created)

    def with_hashes(self, unlearned_sha256: str, retrained_sha256: str | None) -> Report:
        """This report with the sha256 of the weights written beside it."""
        checkpoints = dataclasses.replace(
            self.checkpoints,
            unlearned_sha256=unlearned_sha256,
            retrained_sha256=retrained_sha256,
        )
        return dataclasses.replace(self, checkpoints=checkpoints)
