"""Randomness passed in (scikit-learn's `check_random_state`): a seed or a generator, never the
global torch RNG that a caller may have seeded, or not, somewhere else."""

from __future__ import annotations

import torch


def as_generator(
    seed: int | torch.Generator, device: torch.device | str | None = None
) -> torch.Generator:
    """A torch.Generator from a seed (a fresh one on `device`, CPU by default) or the given
    generator itself, so that a caller can share one stream across several draws."""
    if isinstance(seed, torch.Generator):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise TypeError(f"seed must be an int or a torch.Generator, not {type(seed).__name__}")
    return torch.Generator(device or "cpu").manual_seed(seed)
