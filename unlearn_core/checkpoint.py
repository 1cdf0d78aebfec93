"""Checkpoints: safetensors weights (the model and w_0) with the training record as JSON metadata.

Loading never executes code: `.safetensors` holds only tensors, and `.pt`/`.pth` state dicts are
read with `torch.load(weights_only=True)`, which refuses pickled objects other than tensors and
containers. Anything else, and any non-finite weight, is refused with a one-line UserError.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
import warnings
import zipfile
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file
from torch import nn

import unlearn_core
from unlearn_core.data import ImageDataset
from unlearn_core.errors import UserError
from unlearn_core.files import atomic_write, open_regular, parse_json_bounded
from unlearn_core.models import build_model
from unlearn_core.training import Recipe, TrainedModel, initial_model

MODEL_PREFIX, W0_PREFIX = "model.", "w0."
META_KEY = "unlearn_core"
MAX_CHECKPOINT_BYTES = 2 * 1024**3


def sha256_file(path: str | Path, limit: int = MAX_CHECKPOINT_BYTES) -> str:
    """sha256 of the regular file at `path`, of at most `limit` bytes. UserError, one line,
    for a FIFO, a device such as /dev/zero (which would never end), a folder or a larger file:
    it is checked on the opened descriptor before a byte is hashed (files.open_regular)."""
    digest, total = hashlib.sha256(), 0
    with os.fdopen(open_regular(path, limit), "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            total += len(block)
            if total > limit:
                raise UserError(f"{Path(path).name} grew past the cap of {limit} bytes.")
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
    """(tensors, metadata) from a .safetensors or state-dict .pt/.pth file, never running code.

    Sizes are bounded before anything is inflated: a .pt file's zip entries may declare at most
    `_declared_limit` bytes, and every tensor read must be a dense tensor whose bytes fit the
    same bound. UserError (one line) for anything else.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"checkpoint {path} does not exist or is not a file; check the path.")
    size = path.stat().st_size
    if size > MAX_CHECKPOINT_BYTES:
        raise UserError(
            f"{path.name} is larger than {MAX_CHECKPOINT_BYTES >> 30} GiB; refusing it."
        )
    suffix = path.suffix.lower()
    if suffix == ".safetensors":
        tensors, meta = _read_safetensors(path)
    elif suffix in (".pt", ".pth"):
        tensors, meta = _state_dict_of(_read_pt(path, size), path.name), {}
    else:
        raise UserError(f"{path.name}: only .safetensors, .pt or .pth state dicts can be loaded.")
    _check_tensor_sizes(tensors, path.name, _declared_limit(size))
    return tensors, meta


def _declared_limit(file_size: int) -> int:
    """The most bytes a file's tensors may take in memory: torch.save and safetensors store
    tensors uncompressed, so twice the file and 64 MiB of slack cover every honest file."""
    return min(MAX_CHECKPOINT_BYTES, 2 * file_size + 64 * 2**20)


def _read_safetensors(path: Path) -> tuple[dict[str, torch.Tensor], dict]:
    """safetensors checks that every tensor's shape fits its byte range in the file."""
    try:
        tensors = load_file(path)
        with safe_open(path, framework="pt") as f:
            raw = (f.metadata() or {}).get(META_KEY)
    except (SafetensorError, OSError, ValueError, TypeError, RuntimeError) as err:
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:120]
        raise UserError(f"{path.name} is not a valid safetensors file ({first}).") from None
    if not raw:
        return tensors, {}
    return tensors, parse_json_bounded(raw.encode(), f"{path.name}'s training metadata")


def _read_pt(path: Path, size: int):
    """torch.load(weights_only=True) of a zip-format .pt file whose entries declare no more than
    `_declared_limit` bytes (a small file cannot inflate to gigabytes)."""
    try:
        with zipfile.ZipFile(path) as zf:
            declared = sum(info.file_size for info in zf.infolist())
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
        raise UserError(
            f"{path.name} is not a plain state dict in torch's zip format; save "
            "model.state_dict() with torch >= 1.6 or use .safetensors."
        ) from None
    if declared > _declared_limit(size):
        raise UserError(
            f"{path.name} declares {declared >> 20} MiB of contents in a {size >> 20} MiB file; "
            "refusing it (a zip bomb or a corrupt file)."
        )
    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols; we decide
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        raise UserError(
            f"{path.name} is not a plain state dict: it holds pickled objects other than "
            "tensors (refused without running them); save model.state_dict() or use "
            ".safetensors."
        ) from None
    except Exception as err:  # noqa: BLE001 - an untrusted file: any failure is the file's
        first = (str(err).strip().splitlines() or [type(err).__name__])[0][:120]
        raise UserError(f"{path.name} is not a readable .pt file ({first}).") from None


def _check_tensor_sizes(tensors: dict[str, torch.Tensor], name: str, limit: int) -> None:
    """Dense tensors only, whose bytes together fit `limit` (a view may declare a shape far
    larger than the storage it reads)."""
    total = 0
    for key, value in tensors.items():
        if not isinstance(key, str) or value.layout != torch.strided:
            raise UserError(f"{name}: entry {str(key)[:40]!r} is not a dense named tensor.")
        total += value.numel() * value.element_size()
        if total > limit:
            raise UserError(f"{name}: its tensors declare more than {limit >> 20} MiB; refusing.")


def _state_dict_of(obj, name: str) -> dict[str, torch.Tensor]:
    if isinstance(obj, dict):
        for key in ("state_dict", "model_state_dict", "model"):
            if isinstance(obj.get(key), dict):
                obj = obj[key]
                break
        if obj and all(isinstance(v, torch.Tensor) for v in obj.values()):
            return dict(obj)
    raise UserError(f"{name} holds no state dict of tensors; save model.state_dict().")


FLOAT_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)


def _check_dtypes(state: dict, expected: dict, name: str) -> None:
    """Floating-point weights where the model has them (float16 to float64; not float8 or
    complex), integers only where the model keeps a counter (BatchNorm's num_batches_tracked)."""
    for key, value in state.items():
        want = expected[key]
        fits = (
            value.dtype in FLOAT_DTYPES
            if want.is_floating_point()
            else not value.is_floating_point() and not value.is_complex()
        )
        if not fits or value.dtype == torch.bool:
            raise UserError(
                f"{name}: weight {key} is {str(value.dtype).removeprefix('torch.')}, not a "
                f"{'float16/32/64 or bfloat16' if want.is_floating_point() else 'integer'} "
                "tensor; save the model in float32."
            )


def _check_finite(tensors: dict[str, torch.Tensor], name: str) -> None:
    for key, value in tensors.items():
        if value.is_floating_point() and not torch.isfinite(value).all():
            raise UserError(f"{name}: weight {key} has NaN or infinite values; use a sound model.")


def expected_state(arch: str, data: ImageDataset) -> dict[str, torch.Tensor]:
    """The state dict of `arch` for `data`, built on the meta device: names, shapes and dtypes
    without allocating a single weight (a huge architecture costs nothing to check against)."""
    with torch.device("meta"):
        model = build_model(arch, data.channels, data.num_classes, data.image_size)
    return model.state_dict()


def check_fits(state: dict[str, torch.Tensor], expected: dict, name: str, what: str = "") -> None:
    """UserError unless `state` has exactly the keys of `expected`, with its shapes and fitting
    dtypes, and only finite values (what: "w0 of " to name the w_0 block)."""
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
            f"{what}{name} does not fit this architecture ({detail}); choose the architecture "
            "and data set it was trained with (--arch and --dataset on the command line)."
        )
    _check_dtypes(state, expected, f"{what}{name}")
    _check_finite(state, f"{what}{name}")


def load_into(model: nn.Module, state: dict[str, torch.Tensor], name: str) -> nn.Module:
    """Check `state` against `model` (check_fits) and load it; returns the model."""
    check_fits(state, model.state_dict(), name)
    model.load_state_dict({k: v.to(model.state_dict()[k].dtype) for k, v in state.items()})
    return model


def _check_meta(meta, name: str) -> dict:
    """The training metadata's types: a JSON object whose arch and dataset are names, recipe and
    probes objects, and history a list of objects of numbers."""
    if not isinstance(meta, dict):
        raise UserError(f"{name} has malformed training metadata; re-save it with this tool.")
    for key, kinds in META_TYPES.items():
        if key in meta and meta[key] is not None and not isinstance(meta[key], kinds):
            raise UserError(f"{name} has malformed training metadata ({key}); re-save it.")
    for entry in meta.get("history") or []:
        if not isinstance(entry, dict) or not all(
            isinstance(v, (int, float)) or v is None for v in entry.values()
        ):
            raise UserError(f"{name} has malformed training metadata (history); re-save it.")
    return meta


META_TYPES = {
    "arch": str,
    "dataset": str,
    "recipe": dict,
    "history": list,
    "probes": dict,
    "source": str,
    "source_sha256": str,
}
# recipe setting -> (lowest, highest): the ranges a recorded or typed recipe may take; beyond
# them training runs for ever, diverges at once, or a seed overflows torch's 64-bit generator
# (the data order draws from seed * 100003 + epoch)
RECIPE_RANGES = {
    "lr": (1e-12, 10.0),
    "epochs": (1, 10_000),
    "batch_size": (1, 65_536),
    "weight_decay": (0.0, 1.0),
    "momentum": (0.0, 0.999),
    "seed": (0, 2**32 - 1),
    "sd_gamma": (0.0, 100.0),
    "probe_every": (0, 10**7),
    "probe_size": (1, 65_536),
    "probe_iters": (1, 10_000),
}


def check_recipe(recipe: Recipe, name: str = "the recipe") -> Recipe:
    """UserError unless every setting of `recipe` lies in RECIPE_RANGES (NaN never does)."""
    for key, (low, high) in RECIPE_RANGES.items():
        value = getattr(recipe, key)
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, float))
            or not low <= value <= high
        ):
            raise UserError(f"{name}: {key} must lie in [{low:g}, {high:g}], not {value!r}.")
    return recipe


def _recipe_of(meta: dict, name: str) -> Recipe:
    try:
        recipe = Recipe.from_dict(meta.get("recipe") or {})
    except (TypeError, ValueError) as err:
        raise UserError(f"{name} records an invalid recipe ({err}).") from None
    return check_recipe(recipe, f"{name} records an invalid recipe")


def _split(tensors: dict[str, torch.Tensor]) -> tuple[dict, dict | None]:
    """(model state, w_0 or None) of a checkpoint's tensors; foreign weights are all state."""
    if not any(k.startswith(MODEL_PREFIX) for k in tensors):
        return tensors, None
    state = {k[len(MODEL_PREFIX) :]: v for k, v in tensors.items() if k.startswith(MODEL_PREFIX)}
    w0 = {k[len(W0_PREFIX) :]: v for k, v in tensors.items() if k.startswith(W0_PREFIX)}
    return state, w0 or None


def load_checkpoint(
    path: str | Path,
    data: ImageDataset,
    arch: str | None = None,
) -> tuple[TrainedModel, dict]:
    """-> (TrainedModel on the CPU in eval mode, metadata including `sha256` and `file`, the
    file's name; for weights without a recipe also `source` and `source_sha256`, the file as
    its owner supplied it: the one an import re-saved, else this file).

    For our own checkpoints the architecture and recipe come from the file; for foreign weights
    `arch` must be given, the recipe is the default one and w_0 is unknown (recorded as such).
    Names, shapes and dtypes are checked against the architecture built on the meta device
    before any model is built.
    """
    tensors, meta = read_weights(path)
    name = Path(path).name
    meta = _check_meta(meta, name)
    arch = meta.get("arch") or arch
    if arch is None:
        raise UserError(f"{name} does not record its architecture; pass --arch.")
    if meta.get("dataset") and meta["dataset"] != data.name:
        raise UserError(f"{name} was trained on {meta['dataset']}, not {data.name}; use that data.")
    recipe = _recipe_of(meta, name)
    state, w0 = _split(tensors)
    expected = expected_state(arch, data)
    check_fits(state, expected, name)
    if w0 is not None:
        check_fits(w0, expected, name, what="w0 of ")
    model = load_into(initial_model(arch, data, recipe.seed), state, name).eval()
    digest = sha256_file(path)
    meta = {**meta, "arch": arch, "sha256": digest, "recipe_recorded": "recipe" in meta}
    meta["file"] = name
    if "source" not in meta and "recipe" not in meta:  # foreign weights loaded as they are (a
        meta.update(source=name, source_sha256=digest)  # .pt on the command line): as supplied
    history, probes = meta.get("history", []), meta.get("probes")
    trained = TrainedModel(arch, data.name, model, recipe, w0, history or [], probes)
    return trained, meta


def checkpoint_dataset(path: str | Path) -> str | None:
    """The data set a checkpoint records, without loading its weights (None if it records none)."""
    path = Path(path)
    if path.suffix.lower() != ".safetensors" or not path.is_file():
        return None
    try:
        with safe_open(path, framework="pt") as f:
            raw = (f.metadata() or {}).get(META_KEY)
    except (SafetensorError, OSError, ValueError, TypeError, RuntimeError):
        return None
    try:
        meta = json.loads(raw) if raw else None
    except (ValueError, RecursionError):
        return None
    dataset = meta.get("dataset") if isinstance(meta, dict) else None
    return dataset if isinstance(dataset, str) else None
