"""Randomness is passed in (scikit-learn's check_random_state): every registered method gives
bitwise the same weights for the same seed, other weights for another seed where it draws at
all, and never touches the global torch RNG."""

import hashlib

import pytest
import torch

from unlearn_core.methods import METHODS, parse_config
from unlearn_core.randomness import as_generator
from unlearn_core.request import ForgetRequest

# small settings, a few seconds a method on the tiny data set
SMALL = {
    "finetune": {"epochs": "1"},
    "neggrad": {"batch_size": "16"},  # several batches, so the order matters
    "unsir": {
        "noise_batch": "8",
        "noise_steps": "5",
        "noise_copies": "3",
        "retain_per_class": "10",
    },
    "lfoci": {"perturbations": "50", "hessian_samples": "50"},
    "salun": {"epochs": "1"},
    "l1-sparse": {"epochs": "1"},
}
# no random draw: the seed must not matter
DETERMINISTIC = {"none", "retrain", "single-gradient", "ssd"}


def _sha256(model: torch.nn.Module) -> str:
    digest = hashlib.sha256()
    for key, value in sorted(model.state_dict().items()):
        digest.update(key.encode())
        digest.update(value.detach().cpu().contiguous().numpy().tobytes())
    return digest.hexdigest()


def _request(name, data):
    if name == "lfoci":  # the cheapest request for its Newton step: two samples
        return ForgetRequest.for_indices(data, [0, 5])
    return ForgetRequest.for_classes(data, [3])


def _run(name, trained, data, seed):
    spec = METHODS[name]
    config = parse_config(spec.config_cls, SMALL.get(name, {}))
    return spec.run(trained, _request(name, data), data, config, seed=seed)


@pytest.mark.parametrize("name", sorted(METHODS))
def test_same_seed_same_weights_and_the_global_rng_untouched(name, tiny, tiny_trained):
    torch.manual_seed(12345)
    state = torch.get_rng_state()
    first = _sha256(_run(name, tiny_trained, tiny, seed=7).model)
    assert torch.equal(torch.get_rng_state(), state), f"{name} drew from the global RNG"
    torch.manual_seed(999)  # another global state must not matter either
    assert _sha256(_run(name, tiny_trained, tiny, seed=7).model) == first


@pytest.mark.parametrize("name", sorted(METHODS))
def test_another_seed_changes_only_what_draws(name, tiny, tiny_trained):
    first = _sha256(_run(name, tiny_trained, tiny, seed=0).model)
    other = _sha256(_run(name, tiny_trained, tiny, seed=1).model)
    if name in DETERMINISTIC:
        assert other == first
    else:
        assert other != first


def test_as_generator_takes_a_seed_or_a_generator():
    generator = torch.Generator().manual_seed(3)
    assert as_generator(generator) is generator
    a, b = as_generator(3), as_generator(3)
    assert torch.equal(torch.randperm(10, generator=a), torch.randperm(10, generator=b))
    with pytest.raises(TypeError):
        as_generator(None)
