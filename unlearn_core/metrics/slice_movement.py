"""What L-FOCI's slice selection did (Mehta et al., CVPR 2022, Sec. 5 and Fig. 5).

A slice is one output unit of a Linear layer or one output channel of a Conv2d layer and owns
weight[k] and bias[k] (torch_utils.slice_layers); L-FOCI's Newton step changes only those
rows. Here: how far each selected slice's parameters moved, the CODEC value of each FOCI step,
and the comparison with a control run that updated as many slices drawn at random.
"""

from __future__ import annotations

import torch
from torch import nn

from unlearn_core.errors import UserError
from unlearn_core.torch_utils import slice_layers

# report.json metrics compared between L-FOCI's selection and the random control
COMPARED = (
    ("forget_loss", "forget loss (cross-entropy, nats)"),
    ("forget_acc", "forget accuracy"),
    ("retain_acc", "retain accuracy"),
    ("test_acc", "test accuracy"),
)


def slice_widths(model: nn.Module) -> dict[str, int]:
    """Layer name -> number of slices (out_features or out_channels), in module order."""
    return {layer.name: layer.units for layer in slice_layers(model)}


def _rows(module: nn.Module, index: int) -> list[torch.Tensor]:
    """The parameters a slice owns: weight[index] (in, ...) and bias[index] (a scalar)."""
    return [p[index] for p in (module.weight, module.bias) if p is not None]


@torch.no_grad()
def slice_movement(original: nn.Module, unlearned: nn.Module, slices: list[dict]) -> list[dict]:
    """One row per selected slice ({layer, index, score, ...} from report.json's
    `selected_slices`), with `parameters` (how many it owns), `moved` (L2 norm of the change of
    weight[index] and bias[index], weight units) and `moved_relative` (moved / the original
    rows' L2 norm). UserError if a slice is not in the models (a run made from another one)."""
    before, after = dict(original.named_modules()), dict(unlearned.named_modules())
    rows = []
    for s in slices:
        layer, index = s["layer"], int(s["index"])
        module, target = before.get(layer), after.get(layer)
        weight = getattr(module, "weight", None)
        if target is None or weight is None or not 0 <= index < weight.shape[0]:
            raise UserError(
                f"slice {index} of layer {layer!r} is not in the model: select the checkpoint "
                "the run was made from on the Model and data page."
            )
        old = torch.cat([t.flatten() for t in _rows(module, index)])  # (p,)
        new = torch.cat([t.flatten().to(old.device) for t in _rows(target, index)])
        moved = float((new - old).norm())
        rows.append(
            {
                **s,
                "parameters": old.numel(),
                "moved": moved,
                "moved_relative": moved / max(float(old.norm()), 1e-12),
            }
        )
    return rows


def foci_steps(method_info: dict) -> list[dict]:
    """The CODEC value T(Y, slice | slices before) of each FOCI step: rows {step, codec,
    sample}; a sequential run's removals each restart at step 1 with their sample index (None
    for a run that removed its samples at once). Empty when nothing was selected by FOCI."""
    removals = (method_info.get("sequential") or {}).get("removals")
    runs = (
        [(r["index"], r.get("foci_scores") or []) for r in removals if r["accepted"]]
        if removals
        else [(None, method_info.get("foci_scores") or [])]
    )
    return [
        {"step": step, "codec": score, "sample": sample}
        for sample, scores in runs
        for step, score in enumerate(scores, 1)
    ]


def selection_counterpart(report: dict, others: dict[str, dict]) -> str | None:
    """The id of an L-FOCI run among `others` (run id -> report) on the same forget request
    and checkpoint as `report` whose selection is the other of lfoci/random; the newest (last)
    when several are; None when there is none or `report` is neither."""
    wanted = {"lfoci": "random", "random": "lfoci"}.get(report["config"].get("selection"))
    matches = [
        run_id
        for run_id, other in others.items()
        if other["method"] == "lfoci"
        and other["config"].get("selection") == wanted
        and other["forget"] == report["forget"]
        and other["checkpoints"]["original_sha256"] == report["checkpoints"]["original_sha256"]
    ]
    return matches[-1] if matches else None


def selection_comparison(first: dict, second: dict) -> list[dict]:
    """Rows {metric, original, "<selection> selection" for each report} of the unlearned
    models' forget loss and accuracies (Fig. 5's question: does L-FOCI's choice matter?)."""
    rows = []
    for key, label in COMPARED:
        row = {"metric": label, "original": first["metrics"]["original"][key]}
        for report in (first, second):
            row[f"{report['config']['selection']} selection"] = report["metrics"]["unlearned"][key]
        rows.append(row)
    return rows
