"""Image classification data sets, held in memory as uint8 tensors with stable train/test splits.

Every loader returns an `ImageDataset`: images (n, C, H, W) uint8, labels (n,) int64, class names
and per-channel normalisation. Indices everywhere in the project are positions in `train_x`, so
they must never change between runs: each loader's order is fixed by its files, never shuffled.
Nothing here downloads: a missing data set is a `UserError` naming where we looked.
"""

from __future__ import annotations

import gzip
import io
import pickle
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from unlearn_core.errors import UserError

ASSETS = Path(__file__).resolve().parent.parent / "assets"
DEMO_FILE = ASSETS / "demo" / "fashion_mnist_demo.npz"

FASHION_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)
CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)


@dataclass(frozen=True, eq=False)
class ImageDataset:
    """A data set in memory. Treat the tensors as read-only: they are cached and shared."""

    name: str
    class_names: tuple[str, ...]
    train_x: torch.Tensor  # (n_train, C, H, W) uint8
    train_y: torch.Tensor  # (n_train,) int64
    test_x: torch.Tensor  # (n_test, C, H, W) uint8
    test_y: torch.Tensor  # (n_test,) int64
    mean: tuple[float, ...]  # per channel, of train_x / 255
    std: tuple[float, ...]
    source: str  # where it was read from, for the run record
    # a validation split, disjoint from test, for decisions (accept/revert, tuning) so that test
    # numbers stay unbiased; None where the data set has none (only the demo has one)
    val_x: torch.Tensor | None = None  # (n_val, C, H, W) uint8
    val_y: torch.Tensor | None = None  # (n_val,) int64

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def channels(self) -> int:
        return self.train_x.shape[1]

    @property
    def image_size(self) -> tuple[int, int]:
        return tuple(self.train_x.shape[2:])

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 images (b, C, H, W) -> float32 (b, C, H, W), standardised per channel."""
        mean = torch.tensor(self.mean, device=images.device).view(1, -1, 1, 1)
        std = torch.tensor(self.std, device=images.device).view(1, -1, 1, 1)
        return (images.float() / 255.0 - mean) / std

    def split(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """("train" | "test" | "val") -> (uint8 images (n, C, H, W), labels (n,))."""
        if name == "train":
            return self.train_x, self.train_y
        if name == "test":
            return self.test_x, self.test_y
        if name == "val":
            if self.val_y is None:
                raise UserError(f"data set {self.name} has no validation split.")
            return self.val_x, self.val_y
        raise ValueError(f"split must be 'train', 'test' or 'val', not {name!r}")

    def batch(
        self, indices: torch.Tensor, device: torch.device | str, split: str = "train"
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Indices (b,) into a split -> (normalised images (b, C, H, W) float32, labels (b,)
        int64), both on `device`. Normalised on the CPU, then moved, as training always did."""
        images, labels = self.split(split)
        return self.normalize(images[indices]).to(device), labels[indices].to(device)

    def describe(self) -> dict:
        return {
            "name": self.name,
            "classes": list(self.class_names),
            "train": int(self.train_y.numel()),
            "test": int(self.test_y.numel()),
            "val": None if self.val_y is None else int(self.val_y.numel()),
            "shape": [self.channels, *self.image_size],
            "source": self.source,
        }


def _images(array) -> torch.Tensor:
    """numpy (n, H, W) or (n, C, H, W) -> uint8 tensor (n, C, H, W)."""
    images = torch.from_numpy(np.array(array, dtype=np.uint8))
    return images.unsqueeze(1) if images.ndim == 3 else images


def _make(
    name, class_names, train_x, train_y, test_x, test_y, source, val_x=None, val_y=None
) -> ImageDataset:
    """Build an ImageDataset from numpy arrays (n, H, W) or (n, C, H, W) uint8; the validation
    split is optional."""
    tx, vx = _images(train_x), _images(test_x)
    scaled = tx.float() / 255.0  # (n, C, H, W)
    mean = scaled.mean(dim=(0, 2, 3))
    std = scaled.std(dim=(0, 2, 3)).clamp_min(1e-6)
    return ImageDataset(
        name=name,
        class_names=tuple(class_names),
        train_x=tx,
        train_y=torch.as_tensor(np.asarray(train_y), dtype=torch.int64),
        test_x=vx,
        test_y=torch.as_tensor(np.asarray(test_y), dtype=torch.int64),
        mean=tuple(round(float(m), 6) for m in mean),
        std=tuple(round(float(s), 6) for s in std),
        source=str(source),
        val_x=None if val_x is None else _images(val_x),
        val_y=None if val_y is None else torch.as_tensor(np.asarray(val_y), dtype=torch.int64),
    )


# --- IDX (MNIST, Fashion-MNIST) -------------------------------------------------------------


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (optionally gzipped): big-endian header, then uint8 data."""
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise UserError(
            f"{path} is not an uint8 IDX file; point --data-root at the original files."
        )
    ndim = raw[3]
    dims = np.frombuffer(raw, dtype=">u4", count=ndim, offset=4).astype(int)
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(dims)):
        raise UserError(f"{path} is truncated: expected {int(np.prod(dims))} values.")
    return data.reshape(dims)


IDX_FILES = {
    "train_x": "train-images-idx3-ubyte",
    "train_y": "train-labels-idx1-ubyte",
    "test_x": "t10k-images-idx3-ubyte",
    "test_y": "t10k-labels-idx1-ubyte",
}


def _find_idx_dir(name: str, root: str | None) -> Path:
    candidates = (
        [Path(root)]
        if root
        else [Path("/usr/share/datasets") / name, Path("data") / name, Path("data")]
    )
    for folder in candidates:
        if all(_idx_path(folder, f) for f in IDX_FILES.values()):
            return folder
    looked = ", ".join(str(c) for c in candidates)
    hint = "apt-get install dataset-fashion-mnist" if name == "fashion-mnist" else "the IDX files"
    raise UserError(
        f"{name}: no IDX files found in {looked}; install them ({hint}) or pass a root."
    )


def _idx_path(folder: Path, stem: str) -> Path | None:
    for candidate in (folder / stem, folder / f"{stem}.gz"):
        if candidate.is_file():
            return candidate
    return None


def load_idx_dataset(name: str, class_names, root: str | None = None) -> ImageDataset:
    folder = _find_idx_dir(name, root)
    arrays = {key: read_idx(_idx_path(folder, stem)) for key, stem in IDX_FILES.items()}
    return _make(name, class_names, **arrays, source=folder)


# --- the embedded demo ------------------------------------------------------------------------


def load_demo(root: str | None = None) -> ImageDataset:
    """The embedded Fashion-MNIST subset (see assets/demo/PROVENANCE.md)."""
    path = Path(root) / DEMO_FILE.name if root else DEMO_FILE
    if not path.is_file():
        raise UserError(f"demo data missing at {path}; run scripts/build_demo_data.py.")
    with np.load(path) as z:
        keys = ("train_x", "train_y", "test_x", "test_y", "val_x", "val_y")
        arrays = {key: z[key] for key in keys if key in z.files}  # an older file has no val
    return _make("demo", FASHION_CLASSES, **arrays, source=path)


def load_demo_300(root: str | None = None) -> ImageDataset:
    """The demo's first 30 training images of each class (300) and its whole test set: small
    enough for a model to memorise every training image, the case where forgetting single
    samples is measurable (the privacy audit's sample-level check)."""
    demo = load_demo(root)
    keep = torch.cat([(demo.train_y == c).nonzero().flatten()[:30] for c in range(10)])
    keep = keep.sort().values  # (300,), in the demo's order
    x, y = demo.train_x[keep].numpy(), demo.train_y[keep].numpy()
    return _make(
        "demo-300", FASHION_CLASSES, x, y, demo.test_x.numpy(), demo.test_y.numpy(), demo.source
    )


# --- CIFAR-10 (python batches), read without executing pickled code ----------------------------


class _ArrayOnlyUnpickler(pickle.Unpickler):
    """Allows only what CIFAR-10 batches contain (dicts of numpy arrays, lists, bytes)."""

    ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"),
        ("numpy", "dtype"),
    }

    def find_class(self, module, name):
        if (module, name) not in self.ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        return super().find_class(module, name)


def _read_cifar_batch(path: Path) -> dict:
    try:
        return _ArrayOnlyUnpickler(io.BytesIO(path.read_bytes()), encoding="bytes").load()
    except (pickle.UnpicklingError, EOFError, ValueError) as err:
        raise UserError(
            f"{path} is not a CIFAR-10 batch ({err}); use the python version."
        ) from None


def load_cifar10(root: str | None = None) -> ImageDataset:
    candidates = (
        [Path(root)] if root else [Path("data/cifar-10-batches-py"), Path("cifar-10-batches-py")]
    )
    folder = next((c for c in candidates if (c / "data_batch_1").is_file()), None)
    if folder is None:
        looked = ", ".join(str(c) for c in candidates)
        raise UserError(
            f"cifar10: no python batches in {looked}; pass the cifar-10-batches-py root."
        )
    train = [_read_cifar_batch(folder / f"data_batch_{i}") for i in range(1, 6)]
    test = _read_cifar_batch(folder / "test_batch")
    train_x = np.concatenate([b[b"data"] for b in train]).reshape(-1, 3, 32, 32)
    train_y = np.concatenate([b[b"labels"] for b in train])
    test_x = np.asarray(test[b"data"]).reshape(-1, 3, 32, 32)
    return _make("cifar10", CIFAR10_CLASSES, train_x, train_y, test_x, test[b"labels"], folder)


# --- scikit-learn's bundled 8x8 digits ------------------------------------------------------


def load_digits(root: str | None = None) -> ImageDataset:
    """1797 8x8 digits; every fifth image (by position) is the test split."""
    from sklearn.datasets import load_digits as sk_digits

    bunch = sk_digits()
    images = np.round(bunch.images * (255.0 / 16.0)).astype(np.uint8)  # (1797, 8, 8)
    is_test = np.arange(len(images)) % 5 == 4
    return _make(
        "digits",
        [str(i) for i in range(10)],
        images[~is_test],
        bunch.target[~is_test],
        images[is_test],
        bunch.target[is_test],
        source="sklearn.datasets.load_digits",
    )


# --- any folder of class subfolders -------------------------------------------------------------

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp"}


def load_imagefolder(root: str | None = None, image_size: int = 32) -> ImageDataset:
    """root/<class>/*.png, or root/train/<class>/ and root/test/<class>/.

    Without train/test folders, every fifth file of each class (sorted by name) is held out for
    test, so the split is the same on every machine. Images are resized to image_size squared;
    grayscale when every image is, RGB otherwise.
    """
    if not root or not Path(root).is_dir():
        raise UserError(f"imagefolder needs a folder of class subfolders; got {root!r}.")
    from PIL import Image

    base = Path(root)
    split_dirs = (base / "train", base / "test")
    if all(d.is_dir() for d in split_dirs):
        classes = sorted(p.name for p in split_dirs[0].iterdir() if p.is_dir())
        files = {
            "train": _class_files(split_dirs[0], classes),
            "test": _class_files(split_dirs[1], classes),
        }
    else:
        classes = sorted(p.name for p in base.iterdir() if p.is_dir())
        every = _class_files(base, classes)
        files = {
            "train": [f for f in every if f[2] % 5 != 4],
            "test": [f for f in every if f[2] % 5 == 4],
        }
    if len(classes) < 2 or not files["train"] or not files["test"]:
        raise UserError(f"{root}: need at least two class subfolders with images in each split.")
    images = {s: [Image.open(p) for p, _, _ in fs] for s, fs in files.items()}
    mode = "L" if all(im.mode in ("L", "1") for ims in images.values() for im in ims) else "RGB"

    def stack(ims):
        arrays = [np.asarray(im.convert(mode).resize((image_size, image_size))) for im in ims]
        out = np.stack(arrays)
        return out if mode == "L" else out.transpose(0, 3, 1, 2)

    labels = {s: [c for _, c, _ in fs] for s, fs in files.items()}
    return _make(
        "imagefolder",
        classes,
        stack(images["train"]),
        labels["train"],
        stack(images["test"]),
        labels["test"],
        base,
    )


def _class_files(folder: Path, classes: list[str]) -> list[tuple[Path, int, int]]:
    """(path, class index, position within its class), sorted by class then file name."""
    out = []
    for label, cls in enumerate(classes):
        paths = sorted(p for p in (folder / cls).iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
        out += [(p, label, k) for k, p in enumerate(paths)]
    return out


LOADERS = {
    "demo": load_demo,
    "demo-300": load_demo_300,
    "fashion-mnist": lambda root=None: load_idx_dataset("fashion-mnist", FASHION_CLASSES, root),
    "mnist": lambda root=None: load_idx_dataset("mnist", [str(i) for i in range(10)], root),
    "cifar10": load_cifar10,
    "digits": load_digits,
    "imagefolder": load_imagefolder,
}


def dataset_names() -> list[str]:
    return list(LOADERS)


@lru_cache(maxsize=8)
def load_dataset(name: str = "demo", root: str | None = None) -> ImageDataset:
    """Load a data set by registry name; cached, so treat the result as read-only."""
    if name not in LOADERS:
        raise UserError(f"unknown dataset {name!r}; known: {', '.join(LOADERS)}.")
    return LOADERS[name](root)
