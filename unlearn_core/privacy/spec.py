"""An audit's spec: plain data, checked in the submitting process before anything runs."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from unlearn_core.errors import UserError
from unlearn_core.privacy.store import same_forget
from unlearn_core.specs.base import Spec
from unlearn_core.specs.run import RunSpec

MIN_MODELS, MAX_MODELS = 4, 256  # U-LiRA leaves one model out and fits a variance on the rest
MAX_ATTACK_SEEDS = 20
MAX_MARGIN = 0.25  # a wider margin calls an AUC of 0.75 "chance"


def check_margin(margin) -> float:
    """`margin` as a float if it is a usable equivalence margin; one UserError line if not."""
    if isinstance(margin, bool) or not isinstance(margin, (int, float)):
        raise UserError(f"--margin must be a number, not {margin!r}.")
    if not 0 < margin <= MAX_MARGIN:
        raise UserError(
            f"--margin must be above 0 and at most {MAX_MARGIN}, not {margin!r}: it is how far "
            "from 0.5 an AUC may be and still count as chance."
        )
    return float(margin)


@dataclass(frozen=True)
class AuditSpec(Spec):
    KIND: ClassVar[str] = "privacy-audit"

    checkpoint: str  # the audited model's checkpoint: its recorded recipe trains the pool
    checkpoint_sha256: str
    method: str
    forget: dict  # {"classes": [...]} or {"indices": [...]}
    models: int = 8  # N: pool models, each unlearned and retrained
    overrides: dict[str, str] = field(default_factory=dict)  # the method's --set values
    attack_seeds: int = 3  # draws of the SVC attack's retain sample per model
    oracle_convention: str = "standard"  # how the retrained models are made
    store_root: str | None = None  # where the pool is cached (default: the run store)
    dataset: str | None = None
    data_root: str | None = None
    arch: str | None = None
    threads: int = 1  # torch threads per model task
    margin: float = 0.05  # equivalence margin on U-LiRA's AUC (privacy/verdict.py)
    relearn_steps: int = 20  # the relearning attack's fine-tuning steps (0: not run)
    relearn_samples: int = 256  # retained images it fine-tunes on
    recipe: dict | None = None  # the training recipe given (--recipe) for a checkpoint that
    # records none, or to replace the one it records (privacy/given_recipe.py)

    def relearn(self):
        from unlearn_core.privacy.relearn_attack import RelearnAttack

        return RelearnAttack(self.relearn_steps, self.relearn_samples)

    def job_spec(self) -> RunSpec:
        """The unlearning run of one pool model, for its checks and loaders."""
        return RunSpec(
            checkpoint=self.checkpoint,
            checkpoint_sha256=self.checkpoint_sha256,
            method=self.method,
            forget=self.forget,
            overrides=dict(self.overrides),
            dataset=self.dataset or (self.recipe or {}).get("dataset"),
            data_root=self.data_root,
            arch=self.arch or (self.recipe or {}).get("arch"),
            threads=self.threads,
        )

    def validate(self) -> None:
        validate_audit(self)

    def title(self) -> str:
        return f"**privacy audit of {self.method}**, {self.models} models"

    def label(self) -> str:
        return f"{self.KIND}-{self.method}"

    def same_job(self, values: dict) -> bool:
        """An audit of the same checkpoint, method and forget set (its N and margin aside): the
        Privacy page follows it as this run's audit."""
        return (
            values.get("checkpoint_sha256") == self.checkpoint_sha256
            and values.get("method") == self.method
            and same_forget(values.get("forget") or {}, self.forget)
        )

    def pool_template(self, trained):
        """The audited model with the recipe the pool trains by: the given one, if any."""
        import dataclasses

        from unlearn_core.training import Recipe

        if self.recipe is None:
            return trained
        settings = {k: v for k, v in self.recipe.items() if k not in ("dataset", "arch")}
        return dataclasses.replace(trained, recipe=Recipe.from_dict(settings))


def validate_audit(spec: AuditSpec) -> None:
    """One UserError line for anything a worker would trip over, before any model trains."""
    from unlearn_core.checkpoint import read_weights
    from unlearn_core.privacy.given_recipe import check_given_recipe
    from unlearn_core.training import check_convention

    if not isinstance(spec.models, int) or not MIN_MODELS <= spec.models <= MAX_MODELS:
        raise UserError(
            f"--models must be a whole number from {MIN_MODELS} to {MAX_MODELS}, not "
            f"{spec.models!r}: U-LiRA fits each model's test on the others."
        )
    if not isinstance(spec.attack_seeds, int) or not 1 <= spec.attack_seeds <= MAX_ATTACK_SEEDS:
        raise UserError(
            f"attack seeds must be from 1 to {MAX_ATTACK_SEEDS}, not {spec.attack_seeds!r}."
        )
    check_convention(spec.oracle_convention)
    check_margin(spec.margin)
    spec.relearn()
    data = spec.job_spec().validate()
    _, meta = read_weights(spec.checkpoint)
    if spec.recipe is not None:
        check_given_recipe(spec.recipe, "the given recipe")
    elif "recipe" not in meta:
        raise UserError(
            f"{Path(spec.checkpoint).name} records no training recipe, which the audit's models "
            "are trained by: give it (--recipe FILE.json, or the recipe fields on the Privacy "
            "page), or make the checkpoint with `train`."
        )
    _check_memory(spec, data, spec.job_spec().arch or meta.get("arch"), spec.recipe or meta)


def _check_memory(spec: AuditSpec, data, arch: str | None, recipe: dict) -> None:
    """The method's batch settings and the pool's training batch, against the free memory."""
    from unlearn_core.methods import get_method, parse_config
    from unlearn_core.run.memory import check_batch_memory, check_config_batches

    if arch is None:  # validate's loading names a missing architecture
        return
    config = parse_config(get_method(spec.method).config_cls, spec.overrides)
    check_config_batches(config, arch, data)
    batch = (recipe.get("recipe") or recipe).get("batch_size")
    if isinstance(batch, int):
        check_batch_memory(arch, data, batch, "the recipe's batch_size")
