"""`python -m unlearn_core explain ...`: GradCAM or activation maps of the original model and,
when given, an unlearned and a retrained run, for the same samples (attribution.py); writes
maps.npz, differences.npz, explain.json and panel.png (explain_io.py) into --out.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from unlearn_core.errors import UserError


def add_explain_parser(sub, csv_ints: Callable[[str], list[int]]) -> None:
    explain = sub.add_parser(
        "explain", help="GradCAM or activation maps of the original, unlearned and retrained models"
    )
    explain.add_argument("--checkpoint", required=True, help="the original model")
    explain.add_argument("--unlearned", help="run folder of the unlearned model")
    explain.add_argument("--retrained", help="run folder of the retrained model (method retrain)")
    explain.add_argument("--indices", type=csv_ints, required=True, help="sample indices, e.g. 0,1")
    explain.add_argument("--split", choices=["train", "test"], default="train")
    explain.add_argument("--kind", choices=["gradcam", "activation"], default="gradcam")
    explain.add_argument("--layer", help="module name (default: the last convolutional layer)")
    explain.add_argument(
        "--target-class", type=int, help="class every map explains (default: each true class)"
    )
    explain.add_argument(
        "--fraction", type=float, default=0.1, help="share of pixels the deletion check removes"
    )
    explain.add_argument("--seed", type=int, default=0, help="seeds the random-pixel control")
    explain.add_argument("--out", required=True, help="folder for maps.npz and panel.png")
    explain.add_argument("--dataset", help="data set (default: the one the checkpoint records)")
    explain.add_argument("--data-root")
    explain.add_argument("--arch", help="architecture, for weights that do not record it")


def _run_model(folder: str, data, original_sha: str):
    """The model of a run folder, refusing one made on other data; warns when it was made from
    another checkpoint than --checkpoint (its maps then compare with a different original)."""
    from unlearn_core.run.store import load_run_model, read_report

    report = read_report(folder)
    if report.dataset != data.name:
        raise UserError(f"run {folder} is on {report.dataset}, not {data.name}.")
    made_from = report.checkpoints.original_sha256
    if made_from and made_from != original_sha:
        print(f"warning: run {folder} was made from another checkpoint", file=sys.stderr)
    return load_run_model(folder, data)


def run_explain(args: argparse.Namespace) -> None:
    from unlearn_core.attribution import explain
    from unlearn_core.checkpoint import checkpoint_dataset, load_checkpoint
    from unlearn_core.cli.explain_io import save_explanation
    from unlearn_core.data import load_dataset

    data = load_dataset(
        args.dataset or checkpoint_dataset(args.checkpoint) or "demo", args.data_root
    )
    trained, meta = load_checkpoint(args.checkpoint, data, args.arch)
    models = {"original": trained.model}
    for key in ("unlearned", "retrained"):
        folder = getattr(args, key)
        models[key] = _run_model(folder, data, meta["sha256"]) if folder else None
    expl = explain(
        models,
        data,
        args.indices,
        args.kind,
        layer=args.layer,
        target_class=args.target_class,
        split=args.split,
        fraction=args.fraction,
        seed=args.seed,
    )
    out = save_explanation(expl, args.out, list(data.class_names))
    summary = json.loads((out / "explain.json").read_text())["faithfulness"]
    for name in expl.maps:
        s = summary[name]
        print(
            f"{name}: mean confidence drop {s['mean_drop']:.3f} "
            f"(random pixels {s['mean_random_drop']:.3f})"
        )
    print(f"wrote {Path(out) / 'maps.npz'} and panel.png ({args.kind}, layer {expl.layer})")
