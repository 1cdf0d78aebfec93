"""Checkpoints: safetensors weights (the model and w_0) with the training record as JSON metadata.

Loading never executes code: `.safetensors` holds only tensors, and `.pt`/`.pth` state dicts are
read with `torch.load(weights_only=True)`, which refuses pickled objects other than tensors and
containers. Anything else, and any non-finite weight, is refused with a one-line UserError.
"""

from __future__ import annotations

import hashlib
import json
import pickle
import warnings
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file
from torch import nn

import unlearn_core
from unlearn_core.data import ImageDataset
from unlearn_core.errors import UserError
from unlearn_core.files import atomic_write
from unlearn_core.training import Recipe, TrainedModel, initial_model

MODEL_PREFIX, W0_PREFIX = "model.", "w0."
META_KEY = "unlearn_core"
MAX_CHECKPOINT_BYTES = 2 * 1024**3


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def atomic_save_tensors(tensors: dict[str, torch.Tensor], path: Path, metadata: dict) -> str:
    """Write a safetensors file via a temporary file and rename; returns its sha256."""
    contiguous = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    text = {k: str(v) for k, v in metadata.items()}
    return sha256_file(atomic_write(path, lambda tmp: save_file(contiguous, tmp, metadata=text)))


def save_model(model: nn.Module, path: str | Path, meta: dict | None = None) -> str:
    """A bare model's state dict (an unlearned model in a run folder); returns sha256."""
    tensors = {MODEL_PREFIX + k: v for k, v in model.state_dict().items()}
    return atomic_save_tensors(tensors, Path(path), {META_KEY: json.dumps(meta or {})})


def save_checkpoint(trained: TrainedModel, path: str | Path, extra: dict | None = None) -> str:
    """Weights, w_0 and the training record in one safetensors file; returns its sha256."""
    tensors = {MODEL_PREFIX + k: v for k, v in trained.model.state_dict().items()}
    if trained.w0 is not None:
        tensors.update({W0_PREFIX + k: v for k, v in trained.w0.items()})
    meta = {
        "arch": trained.arch,
        "dataset": trained.dataset,
        "recipe": trained.recipe.to_dict(),
        "history": trained.history,
        "probes": trained.probes,  # Hessian eigenvalue probes: what the unlearning error needs
        "versions": {"unlearn_core": unlearn_core.__version__, "torch": torch.__version__},
        **(extra or {}),
    }
    return atomic_save_tensors(tensors, Path(path), {META_KEY: json.dumps(meta)})


def read_weights(path: str | Path) -> tuple[dict[str, torch.Tensor], dict]:
    """(tensors, metadata) from a .safetensors or state-dict .pt/.pth file, never running code."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint {path} does not exist; check the path.")
    if path.stat().st_size > MAX_CHECKPOINT_BYTES:
        raise UserError(
            f"{path.name} is larger than {MAX_CHECKPOINT_BYTES >> 30} GiB; refusing it."
        )
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        try:
            tensors = load_file(path)
            with safe_open(path, framework="pt") as f:
                raw = (f.metadata() or {}).get(META_KEY)
            return tensors, json.loads(raw) if raw else {}
        except (SafetensorError, OSError, ValueError) as err:
            raise UserError(f"{path.name} is not a valid safetensors file ({err}).") from None
    if suffix in (".pt", ".pth"):
        try:
            with warnings.catch_warnings():  # torch warns about pickle protocols; we decide
                warnings.simplefilter("ignore")
                obj = torch.load(path, map_location="cpu", weights_only=True)
        except pickle.UnpicklingError:
            raise UserError(
                f"{path.name} is not a plain state dict: it holds pickled objects other than "
                "tensors (refused without running them); save model.state_dict() or use "
                ".safetensors."
            ) from None
        except (RuntimeError, EOFError, OSError, ValueError) as err:
            first = (str(err).strip().splitlines() or [type(err).__name__])[0][:120]
            raise UserError(f"{path.name} is not a readable .pt file ({first}).") from None
        return _state_dict_of(obj, path.name), {}
    raise UserError(f"{path.name}: only .safetensors, .pt or .pth state dicts can be loaded.")


def _state_dict_of(obj, name: str) -> dict[str, torch.Tensor]:
    if isinstance(obj, dict):
        for key in ("state_dict", "model_state_dict", "model"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return dict(obj)
    raise UserError(f"{name} holds no state dict of tensors; save model.state_dict().")


def _check_finite(tensors: dict[str, torch.Tensor], name: str) -> None:
    for key, value in tensors.items():
        if value.is_floating_point() and not torch.isfinite(value).all():
            raise UserError(f"{name}: weight {key} has NaN or infinite values; use a sound model.")


def _load_into(model: nn.Module, state: dict[str, torch.Tensor], name: str) -> None:
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        detail = (
            f"missing {missing[:3]}"
            if missing
            else f"unexpected {unexpected[:3]}"
            if unexpected
            else f"shape of {wrong[0]} is {tuple(state[wrong[0]].shape)}, "
            f"expected {tuple(expected[wrong[0]].shape)}"
        )
        raise UserError(
            f"{name} does not fit this architecture ({detail}); check --arch/--dataset."
        )
    model.load_state_dict(state)


def load_checkpoint(
    path: str | Path,
    data: ImageDataset,
    arch: str | None = None,
) -> tuple[TrainedModel, dict]:
    """-> (TrainedModel on the CPU in eval mode, metadata including `sha256`).

    For our own checkpoints the architecture and recipe come from the file; for foreign weights
    `arch` must be given, the recipe is the default one and w_0 is unknown (recorded as such).
    """
    tensors, meta = read_weights(path)
    name = Path(path).name
    if not isinstance(meta, dict) or not isinstance(meta.get("recipe", {}), dict):
        raise UserError(f"{name} has malformed training metadata; re-save it with this tool.")
    arch = meta.get("arch") or arch
    if arch is None:
        raise UserError(f"{name} does not record its architecture; pass --arch.")
    if meta.get("dataset") and meta["dataset"] != data.name:
        raise UserError(f"{name} was trained on {meta['dataset']}, not {data.name}; use that data.")
    own = any(k.startswith(MODEL_PREFIX) for k in tensors)
    state = {k[len(MODEL_PREFIX) :]: v for k, v in tensors.items() if k.startswith(MODEL_PREFIX)}
    w0 = {k[len(W0_PREFIX) :]: v for k, v in tensors.items() if k.startswith(W0_PREFIX)} or None
    if not own:
        state = tensors
    _check_finite(state, name)
    try:
        recipe = Recipe.from_dict(meta.get("recipe", {}))
    except (TypeError, ValueError) as err:
        raise UserError(f"{name} records an invalid recipe ({err}).") from None
    model = initial_model(arch, data, recipe.seed)
    _load_into(model, state, name)
    model.eval()
    meta = {**meta, "arch": arch, "sha256": sha256_file(path), "recipe_recorded": "recipe" in meta}
    history, probes = meta.get("history", []), meta.get("probes")
    trained = TrainedModel(arch, data.name, model, recipe, w0, history, probes)
    return trained, meta


def checkpoint_dataset(path: str | Path) -> str | None:
    """The data set a checkpoint records, without loading its weights (None if it records none)."""
    path = Path(path)
    if path.suffix.lower() != ".safetensors" or not path.is_file():
        return None
    try:
        with safe_open(path, framework="pt") as f:
            raw = (f.metadata() or {}).get(META_KEY)
    except (SafetensorError, OSError):
        return None
    return json.loads(raw).get("dataset") if raw else None
