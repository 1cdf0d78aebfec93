"""Build the embedded demo data set: a class-balanced subset of the real Fashion-MNIST.

Reads the official IDX files (Debian: `apt-get install dataset-fashion-mnist`, which puts them in
/usr/share/datasets/fashion-mnist/) and keeps the first 600 training and the first 100 test images
of each class, in file order, so the subset is the same on every machine; the validation split is
the next 100 test-file images of each class (disjoint from the test split: decisions such as
sequential L-FOCI's accept or revert read it, results are reported on the test split). Writes
assets/demo/fashion_mnist_demo.npz (uint8, compressed) and the sha256 of its sources into
assets/demo/SOURCES.md.

    python scripts/build_demo_data.py [--source DIR] [--train-per-class 600] [--test-per-class 100]
        [--val-per-class 100]
"""

import argparse
import hashlib
from pathlib import Path

import numpy as np

from unlearn_core.data import DEMO_FILE, IDX_FILES, _idx_path, read_idx


def first_per_class(labels: np.ndarray, per_class: int, skip: int = 0) -> np.ndarray:
    """Positions of the `per_class` samples of each class after its first `skip`, in file order."""
    keep = [np.flatnonzero(labels == c)[skip : skip + per_class] for c in np.unique(labels)]
    return np.sort(np.concatenate(keep))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default="/usr/share/datasets/fashion-mnist")
    parser.add_argument("--train-per-class", type=int, default=600)
    parser.add_argument("--test-per-class", type=int, default=100)
    parser.add_argument("--val-per-class", type=int, default=100)
    args = parser.parse_args()

    source = Path(args.source)
    paths = {key: _idx_path(source, stem) for key, stem in IDX_FILES.items()}
    arrays = {key: read_idx(path) for key, path in paths.items()}
    train_keep = first_per_class(arrays["train_y"], args.train_per_class)
    test_keep = first_per_class(arrays["test_y"], args.test_per_class)
    val_keep = first_per_class(arrays["test_y"], args.val_per_class, skip=args.test_per_class)
    DEMO_FILE.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        DEMO_FILE,
        train_x=arrays["train_x"][train_keep],
        train_y=arrays["train_y"][train_keep].astype(np.int64),
        test_x=arrays["test_x"][test_keep],
        test_y=arrays["test_y"][test_keep].astype(np.int64),
        val_x=arrays["test_x"][val_keep],
        val_y=arrays["test_y"][val_keep].astype(np.int64),
        train_source_index=train_keep,
        test_source_index=test_keep,
        val_source_index=val_keep,  # positions in the test file
    )
    lines = [
        f"| `{p.name}` | `{hashlib.sha256(p.read_bytes()).hexdigest()}` |" for p in paths.values()
    ]
    out_hash = hashlib.sha256(DEMO_FILE.read_bytes()).hexdigest()
    (DEMO_FILE.parent / "SOURCES.md").write_text(
        "# Source files of this build\n\n| file | sha256 |\n|---|---|\n"
        + "\n".join(lines)
        + f"\n\nOutput `{DEMO_FILE.name}`: sha256 `{out_hash}`; "
        f"{len(train_keep)} training, {len(test_keep)} test and {len(val_keep)} validation "
        "images.\n"
    )
    print(f"wrote {DEMO_FILE} ({DEMO_FILE.stat().st_size} bytes, sha256 {out_hash})")


if __name__ == "__main__":
    main()
