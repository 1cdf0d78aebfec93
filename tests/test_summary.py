"""model_summary and the display helpers, against values computed by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from unlearn_core.data import ImageDataset
from unlearn_core.errors import UserError
from unlearn_core.models import build_model
from unlearn_core.training import Recipe, TrainedModel
from unlearn_core.views.model_summary import (
    image_tiles,
    layer_table,
    model_summary,
    page_of_indices,
)


def hot_images(columns: list[int], size: int = 5) -> torch.Tensor:
    """(n, 1, size, size) uint8, black except pixel (0, c) of image i, which is 255."""
    images = torch.zeros(len(columns), 1, size, size, dtype=torch.uint8)
    for i, c in enumerate(columns):
        images[i, 0, 0, c] = 255
    return images


class FirstRow(nn.Module):
    """Logits = the first k pixels of the top row, so the prediction is the bright column.

    One frozen parameter (1 value) and one unused trainable Linear(2, 3) (9 values) give known
    parameter counts: 10 in all, 9 trainable.
    """

    def __init__(self, k: int):
        super().__init__()
        self.k = k
        self.scale = nn.Parameter(torch.ones(1), requires_grad=False)
        self.head = nn.Linear(2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x[:, 0, 0, : self.k] * self.scale  # (b, k)


@pytest.fixture
def controlled():
    """Five classes; class 4 has no test sample. Predictions are the bright pixel's column."""
    train_y, train_pred = [0, 1, 2, 3], [0, 1, 2, 2]  # 3 of 4 right
    test_y, test_pred = [0, 0, 1, 1, 2, 3], [0, 1, 1, 1, 2, 0]  # 4 of 6 right
    data = ImageDataset(
        name="toy",
        class_names=("a", "b", "c", "d", "e"),
        train_x=hot_images(train_pred),
        train_y=torch.tensor(train_y),
        test_x=hot_images(test_pred),
        test_y=torch.tensor(test_y),
        mean=(0.1,),
        std=(0.2,),
        source="test",
    )
    history = [{"epoch": 1, "loss": 0.5, "train_acc": 0.6, "test_acc": 0.55}]
    recipe = Recipe(lr=0.1, epochs=1, seed=3)
    trained = TrainedModel("firstrow", "toy", FirstRow(5).eval(), recipe, None, history)
    return trained, data


def test_logreg_on_28x28_has_7850_parameters():
    rows = layer_table(build_model("logreg", 1, 10, (28, 28)))
    assert [(r["name"], r["type"], r["params"]) for r in rows] == [
        ("0", "Flatten", 0),
        ("1", "Linear", 7850),  # 784 * 10 weights + 10 biases
    ]
    assert rows[1]["shapes"] == "weight 10x784, bias 10"
    assert rows[1]["trainable"] == 7850


def test_smallcnn_layer_counts_by_hand():
    rows = {r["name"]: r["params"] for r in layer_table(build_model("smallcnn", 1, 10, (28, 28)))}
    assert rows["0"] == 1 * 32 * 9 + 32  # conv 3x3, 1 -> 32
    assert rows["3"] == 32 * 64 * 9 + 64  # conv 3x3, 32 -> 64
    assert rows["7"] == 64 * 7 * 7 * 128 + 128  # 28 / 4 = 7 after two max-pools
    assert rows["9"] == 128 * 10 + 10
    assert sum(rows.values()) == 421_642
    assert rows["1"] == rows["2"] == 0  # ReLU and MaxPool are listed, without parameters


def test_summary_of_a_model_whose_predictions_we_set(controlled):
    trained, data = controlled
    summary = model_summary(trained, data)
    assert summary["arch"] == "firstrow" and summary["dataset"] == "toy"
    assert summary["class_names"] == ["a", "b", "c", "d", "e"]
    assert summary["image_shape"] == [1, 5, 5]
    assert summary["params_total"] == 10 and summary["params_trainable"] == 9
    assert summary["test_acc"] == pytest.approx(4 / 6)
    assert summary["train_acc"] == pytest.approx(3 / 4)
    assert summary["per_class_test_acc"] == pytest.approx([0.5, 1.0, 1.0, 0.0, None])
    assert summary["recipe"] == Recipe(lr=0.1, epochs=1, seed=3).to_dict()
    assert summary["history"] == trained.history and summary["history"] is not trained.history
    layers = [(r["name"], r["params"], r["trainable"]) for r in summary["layers"]]
    assert layers == [("(root)", 1, 0), ("head", 9, 9)]  # a parameter held by the root itself


def test_page_of_indices_all_and_one_class():
    labels = torch.tensor([0, 1, 0, 2, 0, 1, 0])
    indices, pages = page_of_indices(labels, None, 2, 3)
    assert indices.tolist() == [3, 4, 5] and pages == 3
    assert page_of_indices(labels, None, 3, 3)[0].tolist() == [6]  # the short last page
    indices, pages = page_of_indices(labels, 0, 2, 3)
    assert indices.tolist() == [6] and pages == 2  # class 0 sits at 0, 2, 4, 6


@pytest.mark.parametrize("page", [0, 3, 99])
def test_page_outside_the_range_is_a_user_error(page):
    with pytest.raises(UserError, match="from 1 to 2"):
        page_of_indices(torch.tensor([0, 1, 0, 2, 0, 1, 0]), 0, page, 3)


def test_a_class_without_samples_is_a_user_error():
    with pytest.raises(UserError, match="no samples"):
        page_of_indices(torch.tensor([0, 1]), 2, 1, 3)


def test_image_tiles_upscale_by_repeating_pixels(controlled):
    _, data = controlled
    tiles, captions = image_tiles(data, "test", torch.tensor([1, 5]), scale=3)
    assert captions == ["#1 · a", "#5 · d"]
    assert all(t.shape == (15, 15) and t.dtype == np.uint8 for t in tiles)
    expected = np.zeros((15, 15), dtype=np.uint8)
    expected[0:3, 3:6] = 255  # test image 1 is bright at (0, 1): a 3x3 block at rows 0-2, cols 3-5
    np.testing.assert_array_equal(tiles[0], expected)


def test_image_tiles_of_rgb_images_are_height_width_channel():
    rgb = torch.arange(2 * 3 * 2 * 2, dtype=torch.uint8).reshape(2, 3, 2, 2)
    data = ImageDataset("rgb", ("x", "y"), rgb, torch.tensor([0, 1]), rgb, torch.tensor([0, 1]),
                        (0.5,) * 3, (0.2,) * 3, "test")  # fmt: skip
    tiles, captions = image_tiles(data, "train", torch.tensor([1]), scale=2)
    assert captions == ["#1 · y"] and tiles[0].shape == (4, 4, 3)
    assert tiles[0][3, 3].tolist() == rgb[1, :, 1, 1].tolist()


def test_image_tiles_refuses_an_index_outside_the_split(controlled):
    with pytest.raises(UserError, match=r"0\.\.3"):
        image_tiles(controlled[1], "train", torch.tensor([4]))
