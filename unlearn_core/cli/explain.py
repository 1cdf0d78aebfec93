"""`python -m unlearn_core explain ...`: what the original model and, when given, an unlearned
and a retrained run show of the same images.

--kind gradcam | activation: maps for chosen samples (attribution.py); writes maps.npz,
differences.npz, explain.json and panel.png (explain_io.py).
--kind embedding | cka | probe: what the features still know about the unlearned run's forget
request (metrics/representations.py); writes summary.json, arrays and panel.png
(representations_io.py).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from unlearn_core.cli.options import csv_ints, seed
from unlearn_core.errors import UserError

MAP_KINDS = ("gradcam", "activation")
FEATURE_KINDS = ("embedding", "cka", "probe")


def add_parsers(sub) -> None:
    explain = sub.add_parser(
        "explain",
        help="maps, embeddings, layer similarity or probes of the original, unlearned and "
        "retrained models",
    )
    explain.add_argument("--checkpoint", required=True, help="the original model")
    explain.add_argument("--unlearned", help="run folder of the unlearned model")
    explain.add_argument(
        "--retrained",
        help="run folder holding the retrained model: a run with the oracle (its "
        "retrained.safetensors; may be the --unlearned folder) or a run of method retrain",
    )
    explain.add_argument("--indices", type=csv_ints, help="samples to map (gradcam, activation)")
    explain.add_argument(
        "--split", choices=["train", "test"], default="train", help="where --indices point"
    )
    explain.add_argument(
        "--kind",
        choices=[*MAP_KINDS, *FEATURE_KINDS],
        default="gradcam",
        help="saliency maps (gradcam, activation) or representations (embedding, cka, probe)",
    )
    explain.add_argument(
        "--layer",
        help="module name (maps: default the last convolutional layer; embedding and probe: "
        "default the penultimate features; cka: default every layer)",
    )
    explain.add_argument(
        "--sample-size", type=int, default=200, help="images per group (forget, retain, test)"
    )
    explain.add_argument(
        "--embedding", choices=["umap", "pca"], default="umap", help="the 2-D map (default umap)"
    )
    explain.add_argument(
        "--target-class", type=int, help="class every map explains (default: each true class)"
    )
    explain.add_argument(
        "--fraction", type=float, default=0.1, help="share of pixels the deletion check removes"
    )
    explain.add_argument(
        "--seed", type=seed, default=0, help="seeds the random-pixel control, sample and maps"
    )
    explain.add_argument("--out", required=True, help="folder for maps.npz and panel.png")
    explain.add_argument("--dataset", help="data set (default: the one the checkpoint records)")
    explain.add_argument("--data-root", help="folder holding the data set's files")
    explain.add_argument("--arch", help="architecture, for weights that do not record it")
    explain.set_defaults(run=run_explain)


def _run_model(folder: str, data, original_sha: str, which: str = "unlearned"):
    """The model of a run folder, refusing one made on other data; warns when it was made from
    another checkpoint than --checkpoint (its maps then compare with a different original).
    which="retrained": the oracle's weights when the run kept them, else the run's own model
    (a run of method retrain)."""
    from unlearn_core.run.store import RETRAINED, load_run_model, read_report

    report = read_report(folder)
    if report.dataset != data.name:
        raise UserError(f"run {folder} is on {report.dataset}, not {data.name}.")
    made_from = report.checkpoints.original_sha256
    if made_from and made_from != original_sha:
        print(f"warning: run {folder} was made from another checkpoint", file=sys.stderr)
    if which == "retrained" and (Path(folder) / RETRAINED).is_file():
        return load_run_model(folder, data, "retrained")
    return load_run_model(folder, data)


def _models(args: argparse.Namespace):
    """(data, {"original", "unlearned", "retrained"} models) for the command's options."""
    from unlearn_core.checkpoint import checkpoint_dataset, load_checkpoint
    from unlearn_core.data import load_dataset

    data = load_dataset(
        args.dataset or checkpoint_dataset(args.checkpoint) or "demo", args.data_root
    )
    trained, meta = load_checkpoint(args.checkpoint, data, args.arch)
    models = {"original": trained.model}
    for key in ("unlearned", "retrained"):
        folder = getattr(args, key)
        models[key] = _run_model(folder, data, meta["sha256"], key) if folder else None
    return data, models


def run_explain(args: argparse.Namespace) -> None:
    from unlearn_core.files import check_out_folder

    check_out_folder(args.out)  # before any model is loaded
    if args.kind in FEATURE_KINDS:
        return run_feature_kind(args)
    if not args.indices:
        raise UserError(f"--kind {args.kind} maps chosen samples: give --indices, e.g. 0,1.")
    from unlearn_core.cli.explain_io import save_explanation
    from unlearn_core.metrics.attribution import explain

    data, models = _models(args)
    options = ("layer", "target_class", "split", "fraction", "seed")
    expl = explain(models, data, args.indices, args.kind, **{k: getattr(args, k) for k in options})
    out = save_explanation(expl, args.out, list(data.class_names))
    summary = json.loads((out / "explain.json").read_text())["faithfulness"]
    for name in expl.maps:
        s = summary[name]
        print(
            f"{name}: mean confidence drop {s['mean_drop']:.3f} "
            f"(random pixels {s['mean_random_drop']:.3f})"
        )
    print(f"wrote {Path(out) / 'maps.npz'} and panel.png ({args.kind}, layer {expl.layer})")


def run_feature_kind(args: argparse.Namespace) -> None:
    """explain --kind embedding | cka | probe over the unlearned run's forget request."""
    from unlearn_core.cli import representations_io as io
    from unlearn_core.metrics import representations as rep
    from unlearn_core.request import ForgetRequest
    from unlearn_core.run.store import read_report

    if not args.unlearned:
        raise UserError(f"--kind {args.kind} compares a run with the original: give --unlearned.")
    data, models = _models(args)
    request = ForgetRequest.from_dict(data, read_report(args.unlearned).forget.to_dict())
    sample = rep.representation_sample(data, request, args.sample_size, args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    layer = args.layer or rep.PENULTIMATE
    if args.kind == "embedding":
        view = rep.embedding_view(
            models, data, sample, layer=layer, seed=args.seed, method=args.embedding
        )
        summary = io.save_embedding(view, out, args.seed, list(data.class_names))
    elif args.kind == "cka":
        layers = [args.layer] if args.layer else None
        summary = io.save_cka(rep.layer_similarity(models, data, sample, layers), out)
    else:
        report = rep.probe_report(models, data, request, sample, layer=layer, seed=args.seed)
        summary = io.save_probe(report, out)
    print(f"wrote {io.write_summary(out, summary)} and panel.png ({args.kind})")
