"""Progress reporting: a callback `progress(fraction, phase)` with fraction in [0, 1].

Every long function takes an optional one; `sub_progress` maps a sub-task onto part of the whole.
"""

from __future__ import annotations

from collections.abc import Callable

Progress = Callable[[float, str], None]


def sub_progress(
    progress: Progress | None, start: float, end: float, prefix: str
) -> Progress | None:
    """Maps a sub-task's progress in [0, 1] onto [start, end] of the whole, its phase prefixed
    ("oracle retrain: epoch 3/12"); None stays None."""
    if progress is None:
        return None
    return lambda fraction, phase: progress(start + (end - start) * fraction, f"{prefix}: {phase}")
