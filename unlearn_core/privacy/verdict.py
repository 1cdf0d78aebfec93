"""The audit's verdict, from U-LiRA on the unlearned models and on the original ones.

A test that the original models also pass proves nothing: when U-LiRA cannot tell even the
original (never unlearned) models from the retrained ones, the verdict is "inconclusive",
whatever the unlearned models score. Otherwise the unlearned models "remember" when the
interval of their AUC lies wholly above 0.5, are "forgotten" when it contains 0.5 and is
narrow enough to mean it, and the verdict is "inconclusive" when it is too wide, or lies
below 0.5 (they differ from the retrained models the other way: over-unlearning, a tell too).
"""

from __future__ import annotations

MAX_WIDTH = 0.2  # a wider interval around 0.5 does not show the models are alike


def _auc_text(attack: dict) -> str:
    low, high = attack["auc_ci"]
    return f"AUC {attack['auc']:.3f} [{low:.3f}, {high:.3f}]"


def decide(
    ulira: dict, control: dict, models: int, max_width: float = MAX_WIDTH
) -> tuple[str, str]:
    """(verdict, one-sentence reason) from the U-LiRA results (A dicts) of the unlearned models
    and of the original models (the control), both against the retrained models."""
    low, high = ulira["auc_ci"]
    c_low, _ = control["auc_ci"]
    more = f"more models than {models} (--models) or a stronger attack would settle it"
    if c_low is None or low is None:
        return "inconclusive", f"the attack has no interval (too few samples or models); {more}."
    if c_low <= 0.5:
        return "inconclusive", (
            f"even the original models cannot be told from the retrained ones (U-LiRA "
            f"{_auc_text(control)}), so this test could not have failed; {more}."
        )
    if low > 0.5:
        return "remembers", (
            f"U-LiRA tells the unlearned models from the retrained ones ({_auc_text(ulira)}; "
            f"the original models: {_auc_text(control)})."
        )
    if high < 0.5:
        return "inconclusive", (
            f"the unlearned models differ from the retrained ones the other way "
            f"({_auc_text(ulira)}, below 0.5): over-unlearning, which an attack can also see."
        )
    if high - low > max_width:
        return "inconclusive", (
            f"the interval is too wide to call ({_auc_text(ulira)}, wider than {max_width}); "
            f"{more}."
        )
    return "forgotten", (
        f"U-LiRA cannot tell the unlearned models from the retrained ones ({_auc_text(ulira)} "
        f"contains 0.5), while it tells the original models apart ({_auc_text(control)})."
    )
