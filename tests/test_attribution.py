"""GradCAM, activation maps and the deletion check against hand computations."""

import pytest
import torch
from conftest import DEMO_CHECKPOINT
from torch import nn

from unlearn_core.checkpoint import load_checkpoint
from unlearn_core.errors import UserError
from unlearn_core.metrics.attribution import (
    activation_map,
    deletion_drop,
    explain,
    find_layer,
    gradcam,
    map_differences,
)

# bilinear upsampling 2 -> 4 with align_corners=False: output i samples source (i + 0.5) / 2 - 0.5
# = -0.25, 0.25, 0.75, 1.25, clamped to [0, 1]; rows of L weigh the two source cells
L = torch.tensor([[1.0, 0.0], [0.75, 0.25], [0.25, 0.75], [0.0, 1.0]])


def hand_cnn() -> nn.Sequential:
    """conv 2x2 stride 2 (channel 0: block mean; channel 1: 1.5 - block mean) -> ReLU -> global
    average pool -> linear without bias, W = [[1, -6], [0, 1]]."""
    net = nn.Sequential(
        nn.Conv2d(1, 2, 2, stride=2),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(2, 2, bias=False),
    )
    with torch.no_grad():
        net[0].weight[0].fill_(0.25)
        net[0].weight[1].fill_(-0.25)
        net[0].bias.copy_(torch.tensor([0.0, 1.5]))
        net[4].weight.copy_(torch.tensor([[1.0, -6.0], [0.0, 1.0]]))
    return net


def hand_image() -> torch.Tensor:
    """(1, 1, 4, 4) with 2x2 blocks of 1, 2 / 3, 1."""
    block = torch.tensor([[1.0, 2.0], [3.0, 1.0]])
    return block.repeat_interleave(2, 0).repeat_interleave(2, 1)[None, None]


def no_hooks(model: nn.Module) -> bool:
    return all(
        not m._forward_hooks and not m._forward_pre_hooks and not m._backward_hooks
        for m in model.modules()
    )


def test_gradcam_matches_hand_computation():
    # A0 = block means [[1, 2], [3, 1]]; A1 = 1.5 - A0 = [[0.5, -0.5], [-1.5, 0.5]] (pre-ReLU).
    # class 0: y = mean relu(A0) - 6 mean relu(A1); dy/dA0 = 1/4 everywhere -> alpha_0 = 1/4;
    # dy/dA1 = -6/4 where A1 > 0 (two cells) -> alpha_1 = -6/4 * 2/4 = -3/4.
    # L = relu(A0 / 4 - 3 A1 / 4) = relu([[-0.125, 0.875], [1.875, -0.125]]).
    # class 1: y = mean relu(A1); alpha_0 = 0, alpha_1 = 1/4 * 2/4 = 1/8 -> relu(A1 / 8).
    cam_0 = torch.tensor([[0.0, 0.875], [1.875, 0.0]])
    cam_1 = torch.tensor([[0.0625, 0.0], [0.0, 0.0625]])
    net = hand_cnn().train()
    maps = gradcam(net, hand_image().repeat(2, 1, 1, 1), torch.tensor([0, 1]))
    assert maps.shape == (2, 4, 4)
    torch.testing.assert_close(maps[0], L @ cam_0 @ L.T)
    torch.testing.assert_close(maps[1], L @ cam_1 @ L.T)
    assert maps[0, 0].tolist() == [0.0, 0.21875, 0.65625, 0.875]  # 0.875 * L[:, 1]
    assert net.training and no_hooks(net)  # mode restored, hooks gone
    assert all(p.grad is None for p in net.parameters())


def test_activation_map_matches_hand_computation():
    # after the ReLU: channel 0 [[1, 2], [3, 1]], channel 1 [[0.5, 0], [0, 0.5]]; mean of the two
    net = hand_cnn()
    maps = activation_map(net, hand_image(), layer="1")
    torch.testing.assert_close(maps[0], L @ torch.tensor([[0.75, 1.0], [1.5, 0.75]]) @ L.T)
    assert no_hooks(net)


def test_layers_by_default_and_by_name():
    net = hand_cnn()
    assert find_layer(net)[0] == "0"
    with pytest.raises(UserError, match="no layer 'nope'"):
        find_layer(net, "nope")
    with pytest.raises(UserError, match="no spatial output"):
        activation_map(net, hand_image(), layer="4")
    with pytest.raises(UserError, match="no convolutional layer"):
        find_layer(nn.Sequential(nn.Flatten(), nn.Linear(16, 2)))


def test_hooks_are_removed_when_a_call_fails():
    net = hand_cnn()
    with pytest.raises((IndexError, RuntimeError)):
        gradcam(net, hand_image(), torch.tensor([5]))  # no class 5
    with pytest.raises(RuntimeError):
        activation_map(net, torch.zeros(1, 3, 4, 4))  # wrong channel count
    assert no_hooks(net)


def test_deletion_drop_by_hand():
    # logistic regression on pixel 0 only: logits (0, 4 x_0); deleting pixel 0 gives p = 1/2
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 2, bias=False))
    with torch.no_grad():
        net[1].weight.copy_(torch.tensor([[0.0, 0.0, 0.0, 0.0], [4.0, 0.0, 0.0, 0.0]]))
    x = torch.tensor([[[[1.0, 1.0], [1.0, 1.0]]]])
    pointing = torch.tensor([[[1.0, 0.0], [0.0, 0.0]]])  # a map that points at pixel 0
    out = deletion_drop(net, x, pointing, torch.tensor([1]), fraction=0.25)
    p = torch.sigmoid(torch.tensor(4.0))
    torch.testing.assert_close(out["confidence"], p[None])
    torch.testing.assert_close(out["drop"], (p - 0.5)[None])
    elsewhere = deletion_drop(net, x, 1 - pointing, torch.tensor([1]), fraction=0.75)
    torch.testing.assert_close(elsewhere["drop"], torch.zeros(1))  # pixels 1-3 do not matter


@pytest.fixture(scope="module")
def demo_model(demo):
    return load_checkpoint(DEMO_CHECKPOINT, demo)[0].model


def test_explain_on_the_demo_model(demo, demo_model):
    shifted = load_checkpoint(DEMO_CHECKPOINT, demo)[0].model
    with torch.no_grad():
        shifted[0].weight.mul_(0.5)
    models = {"original": demo_model, "unlearned": shifted, "retrained": None}
    for kind in ("gradcam", "activation"):
        expl = explain(models, demo, [0, 1, 2], kind, fraction=0.1)
        assert set(expl.maps) == {"original", "unlearned"}
        for m in expl.maps.values():
            assert m.shape == (3, 28, 28)
            assert (m.flatten(1).std(1) > 0).all()  # not constant
        assert expl.targets.tolist() == demo.train_y[:3].tolist()  # true classes by default
        torch.testing.assert_close(
            expl.differences["unlearned-original"], expl.maps["unlearned"] - expl.maps["original"]
        )
        drops = expl.faithfulness["original"]
        assert drops["drop"].shape == (3,) and (drops["confidence"] <= 1).all()
    assert no_hooks(demo_model) and not demo_model.training
    same = explain({"original": demo_model, "unlearned": demo_model}, demo, [5], target_class=2)
    assert same.targets.tolist() == [2]
    assert float(same.differences["unlearned-original"].abs().max()) == 0.0


def test_map_differences_names_and_explain_errors(demo, demo_model):
    maps = {"original": torch.zeros(1, 2, 2), "retrained": torch.ones(1, 2, 2)}
    assert list(map_differences(maps)) == ["retrained-original"]
    with pytest.raises(UserError, match="out of range"):
        explain({"original": demo_model}, demo, [6000])
    with pytest.raises(UserError, match="unknown kind"):
        explain({"original": demo_model}, demo, [0], "saliency")
    with pytest.raises(UserError, match="target class 10"):
        explain({"original": demo_model}, demo, [0], target_class=10)
