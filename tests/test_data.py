import gzip
import pickle
import re

import numpy as np
import pytest
import torch
from conftest import ROOT

from unlearn_core.checkpoint import sha256_file
from unlearn_core.data import DEMO_FILE, load_cifar10, load_dataset, load_imagefolder, read_idx
from unlearn_core.errors import UserError


def test_demo_is_balanced_real_fashion_mnist(demo):
    assert demo.train_x.shape == (6000, 1, 28, 28) and demo.train_x.dtype == torch.uint8
    assert demo.test_x.shape == (1000, 1, 28, 28)
    assert demo.train_y.bincount().tolist() == [600] * 10
    assert demo.test_y.bincount().tolist() == [100] * 10
    assert demo.class_names[0] == "T-shirt/top" and demo.num_classes == 10


def test_demo_validation_split_is_disjoint_from_test_and_train(demo):
    """1000 further test-file images (100 a class): decisions read them, never the test split."""
    assert demo.val_x.shape == (1000, 1, 28, 28) and demo.val_y.bincount().tolist() == [100] * 10
    with np.load(DEMO_FILE) as z:
        val, test = z["val_source_index"], z["test_source_index"]
    assert not set(val.tolist()) & set(test.tolist())  # both index the test file
    assert not any(bool((demo.test_x == image).all((1, 2, 3)).any()) for image in demo.val_x[:50])
    assert not any(bool((demo.train_x == image).all((1, 2, 3)).any()) for image in demo.val_x[:50])
    assert demo.describe()["val"] == 1000 and demo.split("val")[1] is demo.val_y
    digits = load_dataset("digits")
    assert digits.val_y is None and digits.describe()["val"] is None
    with pytest.raises(UserError, match="digits has no validation split"):
        digits.split("val")


def test_demo_file_matches_its_recorded_build():
    recorded = re.search(r"sha256 `([0-9a-f]{64})`", (DEMO_FILE.parent / "SOURCES.md").read_text())
    assert sha256_file(DEMO_FILE) == recorded.group(1)
    assert (ROOT / "assets" / "demo" / "LICENSE").read_text().startswith("The MIT License")


def test_demo_source_indices_point_into_fashion_mnist(demo):
    with np.load(DEMO_FILE) as z:
        source = z["train_source_index"]
    assert source.shape == (6000,) and np.all(np.diff(source) > 0)  # file order, no repeats


def test_normalize_standardises_the_training_set(demo):
    x = demo.normalize(demo.train_x)
    assert abs(float(x.mean())) < 1e-3 and abs(float(x.std()) - 1) < 1e-3


def test_read_idx_hand_built_file(tmp_path):
    values = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    header = bytes([0, 0, 8, 3]) + np.array([2, 3, 4], dtype=">u4").tobytes()
    raw = tmp_path / "x-idx3-ubyte"
    raw.write_bytes(header + values.tobytes())
    packed = tmp_path / "y-idx3-ubyte.gz"
    packed.write_bytes(gzip.compress(header + values.tobytes()))
    assert np.array_equal(read_idx(raw), values)
    assert np.array_equal(read_idx(packed), values)
    raw.write_bytes(header + values.tobytes()[:-1])
    with pytest.raises(UserError, match="truncated"):
        read_idx(raw)


def test_missing_idx_names_where_it_looked(tmp_path):
    with pytest.raises(UserError, match=str(tmp_path)):
        load_dataset("mnist", str(tmp_path))


def test_unknown_dataset_lists_the_known_ones():
    with pytest.raises(UserError, match="known: demo, demo-300, fashion-mnist"):
        load_dataset("imagenet")


def test_demo_300_is_the_demos_first_30_of_each_class():
    demo, small = load_dataset("demo"), load_dataset("demo-300")
    assert small.train_y.bincount().tolist() == [30] * 10
    first = torch.cat([(demo.train_y == c).nonzero().flatten()[:30] for c in range(10)])
    assert torch.equal(small.train_x, demo.train_x[first.sort().values])
    assert torch.equal(small.test_x, demo.test_x) and torch.equal(small.test_y, demo.test_y)


def test_digits_split_is_stable():
    d = load_dataset("digits")
    assert d.train_x.shape[1:] == (1, 8, 8) and d.train_x.shape[0] + d.test_x.shape[0] == 1797
    assert int(d.train_x.max()) == 255 and d.test_y.numel() == 1797 // 5


def test_imagefolder_split_every_fifth(tmp_path):
    from PIL import Image

    for label, cls in enumerate(["cat", "dog"]):
        (tmp_path / cls).mkdir()
        for k in range(10):
            Image.new("L", (12, 12), color=20 * k + label).save(tmp_path / cls / f"{k:02d}.png")
    d = load_imagefolder(str(tmp_path), image_size=8)
    assert d.class_names == ("cat", "dog")
    assert d.train_x.shape == (16, 1, 8, 8) and d.test_x.shape == (4, 1, 8, 8)
    # files 04 and 09 of each class are held out; their colour is 20 * k + label
    assert d.test_x[:, 0, 0, 0].tolist() == [80, 180, 81, 181]


def _cifar_batch(path, n, seed):
    rng = np.random.default_rng(seed)
    batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"labels": list(range(n))}
    path.write_bytes(pickle.dumps(batch))


def test_cifar10_batches_read_without_running_code(tmp_path):
    for i in range(1, 6):
        _cifar_batch(tmp_path / f"data_batch_{i}", 10, i)
    _cifar_batch(tmp_path / "test_batch", 10, 9)
    d = load_cifar10(str(tmp_path))
    assert d.train_x.shape == (50, 3, 32, 32) and d.train_y[:10].tolist() == list(range(10))

    class Hostile:
        def __reduce__(self):
            return (exec, ("open('pwned', 'w')",))

    (tmp_path / "test_batch").write_bytes(pickle.dumps({b"data": Hostile()}))
    with pytest.raises(UserError, match="not a CIFAR-10 batch"):
        load_cifar10(str(tmp_path))
