"""SSD (Foster et al., AAAI 2024): exactly the weights whose importance ratio exceeds alpha are
multiplied by min(lambda * []_D / []_f, 1); the importances are recomputed here by hand."""

import pytest
import torch
import torch.nn.functional as F

from unlearn_core.errors import UserError
from unlearn_core.methods import get_method, parse_config
from unlearn_core.request import ForgetRequest


def _importances(model, data, indices, batch_size):
    """Mean over batches of the squared gradient of the batch-mean cross-entropy (.backward)."""
    model = model.eval()
    total = {k: torch.zeros_like(p) for k, p in model.named_parameters()}
    batches = indices.split(batch_size)
    for batch in batches:
        model.zero_grad()
        x, y = data.batch(batch, "cpu")
        F.cross_entropy(model(x), y).backward()
        for k, p in model.named_parameters():
            total[k] += p.grad**2
    model.zero_grad(set_to_none=True)
    return {k: v / len(batches) for k, v in total.items()}


def test_ssd_damps_exactly_the_selected_weights_by_the_paper_factor(tiny, tiny_trained):
    request = ForgetRequest.for_classes(tiny, [3])
    alpha, lam, b = 2.0, 0.5, 32
    spec = get_method("ssd")
    settings = {"alpha": str(alpha), "lam": str(lam), "batch_size": str(b)}
    config = parse_config(spec.config_cls, settings)
    out = spec.run(tiny_trained, request, tiny, config, seed=0)
    probe = tiny_trained.copy_model()
    forget = _importances(probe, tiny, request.forget_indices, b)
    full = _importances(probe, tiny, torch.cat([request.retain_indices, request.forget_indices]), b)
    before = dict(tiny_trained.model.named_parameters())
    selected_total = 0
    for name, new in out.model.named_parameters():
        old = before[name].detach()
        selected = forget[name] > alpha * full[name]
        beta = torch.clamp(lam * full[name] / forget[name], max=1.0)
        assert torch.equal(new.detach()[~selected], old[~selected]), name
        torch.testing.assert_close(new.detach()[selected], old[selected] * beta[selected])
        selected_total += int(selected.sum())
    assert selected_total > 0
    assert out.info["damped_weights"] == selected_total


@pytest.mark.parametrize("key, value", [("alpha", "0"), ("lam", "-1"), ("batch_size", "0")])
def test_ssd_refuses_impossible_settings(key, value):
    with pytest.raises(UserError):
        parse_config(get_method("ssd").config_cls, {key: value})
