"""The part of an audit that needs only the models' outputs: from grids (N models, m forget
samples) of logit-scaled confidences in each forget sample's label, under the unlearned, the
retrained and (for the control) the original models, U-LiRA with the paired equivalence
verdict, the power estimate, the official challenge score and the per-sample view.

A model audit (privacy/audit.py) computes the grids itself; `privacy-audit --scores` reads
them from a file made elsewhere, so an auditor with shadow models trained on a cluster gets
the same verdict and score.
"""

from __future__ import annotations

import numpy as np
from scipy.special import expit

from unlearn_core.privacy.challenge import (
    DELTA,
    bucket_score,
    example_epsilons,
    forget_score,
    scoring_limit,
)
from unlearn_core.privacy.intervals import DRAWS, auc, mean_bootstrap, percentile_interval
from unlearn_core.privacy.paired import paired_draws
from unlearn_core.privacy.power import MAX_MODELS, POWER, min_detectable_auc, models_needed
from unlearn_core.privacy.summary import grid_attack
from unlearn_core.privacy.ulira import ulira_scores
from unlearn_core.privacy.verdict import MARGIN, Evidence, decide

SIMULATED_DRAWS = 200  # bootstrap draws in each simulated audit of the power estimate
INDISTINGUISHABLE_EPSILON = 1.0  # the page's "indistinguishable at epsilon <= 1"


def score_audit(
    phi: dict[str, np.ndarray],
    indices: list[int],
    rng: np.random.Generator,
    margin: float = MARGIN,
) -> dict:
    """privacy.json's verdict, margin, power, attacks.ulira, control, challenge and samples from
    phi grids: "unlearned" and "retrained" (N, m), "original" (N, m) optional."""
    verdict, reason, grids, evidence = ulira_verdict(phi, rng, margin)
    unlearned, control = evidence["unlearned"], evidence.get("control")
    difference = evidence.get("difference")
    settle = audit_power(phi, verdict, unlearned, margin, rng)
    if verdict == "inconclusive" and control is not None:
        reason = f"{reason} {power_sentence(settle, phi['unlearned'].shape[0])}"
    ulira = grid_attack(*grids["unlearned"], indices, rng, unlearned)
    scores = challenge(phi, rng)
    out = {
        "verdict": verdict,
        "verdict_reason": reason,
        "margin": margin,
        "power": settle,
        "attacks": {"ulira": ulira},
        "challenge": scores,
        "samples": sample_rows(indices, phi, ulira["per_sample"], scores["epsilons"]),
    }
    if control is not None:
        control_attack = grid_attack(*grids["control"], indices, rng, control)
        control_attack.pop("per_sample")
        out["control"] = {"ulira": control_attack, "difference": _evidence_dict(difference)}
    return out


def ulira_verdict(
    phi: dict[str, np.ndarray],
    rng: np.random.Generator,
    margin: float = MARGIN,
    draws: int = DRAWS,
):
    """(verdict, reason, U-LiRA score grids, Evidence per AUC) from phi grids (N, m): the
    decision alone, without the attack's other statistics; `draws` bootstrap draws."""
    pairs = {"unlearned": (phi["unlearned"], phi["retrained"])}
    if "original" in phi:
        pairs["control"] = (phi["original"], phi["retrained"])
    grids = {name: ulira_scores(*pair) for name, pair in pairs.items()}
    evidence = paired_evidence(pairs, grids, rng, draws)
    unlearned = evidence["unlearned"]
    control, difference = evidence.get("control"), evidence.get("difference")
    verdict, reason = decide(unlearned, control, difference, phi["unlearned"].shape[0], margin)
    return verdict, reason, grids, evidence


def audit_power(
    phi: dict[str, np.ndarray], verdict: str, unlearned: Evidence, margin: float, rng
) -> dict:
    """privacy.json's `power`: the models a decided verdict had, or that simulated audits need
    to decide (privacy/power.py), and the smallest AUC these models detect."""
    models = phi["unlearned"].shape[0]
    needed = models
    if verdict == "inconclusive" and "original" not in phi:
        needed = None  # without a control no number of models makes it "forgotten"
    elif verdict == "inconclusive":

        def decide_audit(simulated, rng_):
            return ulira_verdict(simulated, rng_, margin, SIMULATED_DRAWS)[0]

        needed = models_needed(phi, margin, rng, decide_audit)
    return {
        "models_needed": needed,
        "min_detectable_auc": min_detectable_auc(unlearned.low, unlearned.high, margin),
        "power": POWER,
        "max_models_tried": MAX_MODELS,
    }


def rederive_verdict(privacy: dict) -> tuple[str, str]:
    """(verdict, reason) of a privacy.json from its own stored intervals, margin and power, as
    score_audit derived them (a record's check that nobody edited the verdict). KeyError,
    TypeError or ValueError when a needed key is missing or malformed."""
    ulira, control = privacy["attacks"]["ulira"], privacy.get("control")
    unlearned = Evidence(float(ulira["auc"]), *map(float, ulira["auc_ci"]))
    paired = difference = None
    if control is not None:
        block = control["ulira"]
        paired = Evidence(float(block["auc"]), *map(float, block["auc_ci"]))
        diff = control["difference"]
        difference = Evidence(float(diff["value"]), *map(float, diff["ci"]))
    models = int(privacy["models"])
    verdict, reason = decide(unlearned, paired, difference, models, float(privacy["margin"]))
    if verdict == "inconclusive" and paired is not None:
        reason = f"{reason} {power_sentence(privacy['power'], models)}"
    return verdict, reason


def power_sentence(settle: dict, models: int) -> str:
    """What would settle an inconclusive audit, in one sentence."""
    needed = settle["models_needed"]
    if needed is None:
        return (
            f"Simulated audits from the measured effects stay inconclusive up to "
            f"{settle['max_models_tried']} models: the effect sits on the margin's edge, or the "
            f"forget set is too small to tell."
        )
    if needed <= models:
        return f"With {models} models the measured AUCs are on the edge; rerun with more."
    return f"About {needed} models would settle it ({POWER:.0%} of simulated audits decide)."


def paired_evidence(
    pairs: dict[str, tuple[np.ndarray, np.ndarray]],
    grids: dict[str, tuple[np.ndarray, np.ndarray]],
    rng: np.random.Generator,
    draws: int = DRAWS,
) -> dict[str, Evidence]:
    """Evidence for each (phi of the tested models, phi of the retrained models) pair: the AUC
    of its U-LiRA scores `grids[name]` and a 95% interval from the same refitted draws
    (privacy/paired.py), and for "difference" (control - unlearned) when there is a control."""
    both = paired_draws(pairs, rng, draws)
    points = {name: auc(*scores) for name, scores in grids.items()}
    if "control" in pairs:
        both["difference"] = both["control"] - both["unlearned"]
        points["difference"] = points["control"] - points["unlearned"]
    return {
        name: Evidence(value, *percentile_interval(both[name])) for name, value in points.items()
    }


def _evidence_dict(evidence: Evidence) -> dict:
    return {"value": evidence.value, "ci": [evidence.low, evidence.high]}


def challenge(phi: dict[str, np.ndarray], rng: np.random.Generator) -> dict:
    """The official challenge score (privacy/challenge.py) of the unlearned against the
    retrained models, its interval over the forget set, and the original models' own score."""
    models = phi["unlearned"].shape[0]
    epsilons = example_epsilons(phi["unlearned"], phi["retrained"])  # (m,)
    score = forget_score(epsilons, models)
    points = np.array([bucket_score(float(e), models) for e in epsilons])
    out = {
        "forgetting_quality": score,
        "forgetting_quality_ci": list(mean_bootstrap(points, rng)),
        "final_score": None,
        "epsilons": [float(e) for e in epsilons],
        "scoring_limit": scoring_limit(models),
        "delta": DELTA,
        "official": {"forget_score": score, "epsilons": [float(e) for e in epsilons]},
    }
    if "original" in phi:
        original = example_epsilons(phi["original"], phi["retrained"])
        out["original_forgetting_quality"] = forget_score(original, models)
    return out


def sample_rows(
    indices: list[int], phi: dict[str, np.ndarray], per_sample: list[dict], epsilons: list
) -> list[dict]:
    """Per forgotten sample: its challenge epsilon, U-LiRA's AUC over models for it
    (`ulira_score`: 0.5 is chance, 1 tells every unlearned model apart), and the mean
    confidence in its label under the unlearned and the retrained models (sigmoid of phi)."""
    confidence = {role: expit(phi[role]).mean(0) for role in ("unlearned", "retrained")}
    return [
        {
            "index": int(index),
            "epsilon": float(epsilons[i]),
            "ulira_score": per_sample[i]["auc"],
            "conf_unlearned": float(confidence["unlearned"][i]),
            "conf_retrained": float(confidence["retrained"][i]),
        }
        for i, index in enumerate(indices)
    ]


def indistinguishable_share(samples: list[dict], epsilon: float = INDISTINGUISHABLE_EPSILON):
    """The share of the forget set whose epsilon is at most `epsilon`; None without samples."""
    if not samples:
        return None
    return sum(s["epsilon"] <= epsilon for s in samples) / len(samples)
