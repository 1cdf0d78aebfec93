"""How much memory one training step takes, estimated before any weight is allocated, so that a
batch size that cannot fit (`train --batch-size 65536` on a ResNet took 14 GB and more) is
refused with one line instead of swapping the machine to a halt.

The estimate runs the architecture once on the meta device (shapes only, no memory) for one
sample and sums the bytes of every module's output: autograd keeps about that much per sample
for the backward pass, the gradients of the activations take as much again, and the optimiser
step touches a few copies of the weights. STEP_FACTOR covers the first two (the sum counts
in-place outputs twice: room to spare).
"""

from __future__ import annotations

import torch

from unlearn_core.data import ImageDataset
from unlearn_core.errors import UserError
from unlearn_core.models import build_model

STEP_FACTOR = 2  # activations kept for backward and their gradients
BUDGET_SHARE = 0.75  # of the memory available now (MemAvailable), for one step's activations
FALLBACK_BUDGET = 8 * 2**30  # where /proc/meminfo cannot be read


def bytes_per_sample(arch: str, data: ImageDataset) -> int:
    """Bytes of every module's output for one sample of `data` on `arch` (meta device)."""
    total = 0

    def count(_module, _inputs, output) -> None:
        nonlocal total
        if isinstance(output, torch.Tensor):
            total += output.numel() * output.element_size()

    with torch.device("meta"):
        model = build_model(arch, data.channels, data.num_classes, data.image_size)
        hooks = [m.register_forward_hook(count) for m in model.modules() if m is not model]
        try:
            with torch.no_grad():
                model.eval()(torch.empty(1, data.channels, *data.image_size))
        finally:
            for hook in hooks:
                hook.remove()
    return total + data.channels * data.image_size[0] * data.image_size[1] * 4


def memory_budget() -> int:
    """Bytes one step may take: BUDGET_SHARE of the memory available now."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(int(line.split()[1]) * 1024 * BUDGET_SHARE)
    except (OSError, ValueError, IndexError):
        pass
    return FALLBACK_BUDGET


def check_batch_memory(arch: str, data: ImageDataset, batch_size: int, flag: str) -> None:
    """UserError, one line naming the cap and the largest batch that fits, when a training step
    of `batch_size` samples of `data` on `arch` would not fit memory_budget(). A batch never
    holds more than the training split, so a larger setting costs what the whole split does."""
    per_sample = bytes_per_sample(arch, data) * STEP_FACTOR
    budget = memory_budget()
    held = min(batch_size, data.train_y.numel())
    if held * per_sample > budget:
        fits = max(1, budget // per_sample)
        raise UserError(
            f"{flag} {batch_size} needs about {held * per_sample >> 20} MiB per step on "
            f"{arch} (the cap is {budget >> 20} MiB, three quarters of the free memory); use "
            f"at most {fits}."
        )


def check_config_batches(config, arch: str, data: ImageDataset) -> None:
    """check_batch_memory for each batch-size setting of a method's config (a field named
    *batch_size or *_batch, e.g. SCRUB's forget_batch_size, UNSIR's noise_batch), named as the
    `--set` that gave it."""
    import dataclasses

    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        batch = field.name.endswith("batch_size") or field.name.endswith("_batch")
        if batch and isinstance(value, int) and not isinstance(value, bool):
            check_batch_memory(arch, data, value, f"--set {field.name}")


# A whole job in a fresh worker (Ray's `memory=`, so a sweep is scheduled within the machine).
WORKER_BASE = 700 * 2**20  # a process that has imported torch and the pipeline (measured: 674 MB)
EVAL_BATCH = 512  # metrics.accuracy.predict_logits's batch
MODEL_COPIES = 8  # original, unlearned, retrained, gradients, momentum and working copies
DATA_COPIES = 8  # float32 views (4 bytes per uint8 pixel) of the splits, twice
JOB_SLACK = 1.6  # the allocator's fragmentation and caches: fitted to the demo job's peak


def job_bytes(arch: str, data: ImageDataset, model_bytes: int, batch_size: int) -> int:
    """Bytes a job (an unlearning run with its metrics, or an oracle retrain) takes at its
    peak in a worker of its own: the worker's base, the data set and its float copies, the
    models and the larger of a training step of `batch_size` and an evaluation batch.
    Calibrated on the demo job (smallcnn on demo, finetune with the oracle): estimated
    1065 MiB, measured peak RSS 1063 MiB."""
    pixels = sum(t.numel() for t in (data.train_x, data.test_x) if t is not None)
    held = min(batch_size, data.train_y.numel())  # a batch never holds more than the split
    activations = bytes_per_sample(arch, data) * max(STEP_FACTOR * held, EVAL_BATCH)
    varying = pixels * DATA_COPIES + model_bytes * MODEL_COPIES + activations
    return WORKER_BASE + int(varying * JOB_SLACK)
