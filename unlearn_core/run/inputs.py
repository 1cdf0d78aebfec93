"""What a run starts from: the data set and the loaded checkpoint a spec names, loaded once and
shared by the jobs of one sweep (the engine puts them in Ray's object store once) and by an
audit's pool models."""

from __future__ import annotations

from dataclasses import dataclass

from unlearn_core.data import ImageDataset


@dataclass(frozen=True)
class SharedInputs:
    """What the jobs of one sweep share: loaded once, put in Ray's object store once."""

    data: ImageDataset
    trained: object  # TrainedModel
    meta: dict


def load_inputs(spec) -> SharedInputs:
    """The data set and checkpoint of a RunSpec (or anything with its checkpoint, dataset,
    data_root and arch fields)."""
    from unlearn_core.checkpoint import checkpoint_dataset, load_checkpoint
    from unlearn_core.data import load_dataset

    data = load_dataset(
        spec.dataset or checkpoint_dataset(spec.checkpoint) or "demo", spec.data_root
    )
    trained, meta = load_checkpoint(spec.checkpoint, data, spec.arch)
    return SharedInputs(data, trained, meta)
