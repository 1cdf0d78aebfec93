"""What the features still know, per method, over a sweep's runs; and how long each view takes.
Markdown out (BENCHMARKS.md, "Representations").

    python bench/bench_representations.py SWEEP_OUT_DIR [--store runs] [--per-group 200]

Reads DIR/sweep.json (a sweep made with --oracle, so each run holds its retrained model), and for
every finished run computes the linear probe for the forgotten class (class requests) on the
penultimate features of the original, unlearned and retrained models, and the linear CKA of the
last layers; then prints, per method, the mean and 95% Student-t interval over seeds. The views'
times are measured on the first run. Not a test.
"""

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from unlearn_core.checkpoint import load_checkpoint  # noqa: E402
from unlearn_core.data import load_dataset  # noqa: E402
from unlearn_core.metrics import representations as rep  # noqa: E402
from unlearn_core.metrics.summary_stats import mean_interval  # noqa: E402
from unlearn_core.request import ForgetRequest  # noqa: E402
from unlearn_core.run.store import RunStore, load_run_model  # noqa: E402

CHECKPOINT = Path(__file__).resolve().parent.parent / "assets/models/demo_smallcnn.safetensors"


def measure(folder: Path, data, original, per_group: int, timed: bool) -> dict:
    report = RunStore(folder.parent).open(folder.name)
    request = ForgetRequest.from_dict(data, report.forget.to_dict())
    models = {
        "original": original,
        "unlearned": load_run_model(folder, data),
        "retrained": load_run_model(folder, data, "retrained"),
    }
    sample = rep.representation_sample(data, request, per_group, seed=0)
    clock = {}
    start = time.perf_counter()
    probe = rep.probe_report(models, data, request, sample, seed=0)
    clock["probe"] = time.perf_counter() - start
    start = time.perf_counter()
    cka = rep.layer_similarity(models, data, sample)
    clock["cka"] = time.perf_counter() - start
    if timed:
        for method in ("pca", "umap"):
            start = time.perf_counter()
            rep.embedding_view(models, data, sample, seed=0, method=method)
            clock[f"embedding ({method})"] = time.perf_counter() - start
    return {
        "method": report.method,
        "probe": probe["probe_accuracy"],
        "flag": probe["flag"],
        "cka_last": cka["original_vs_unlearned"][-1],
        "clock": clock,
    }


def cell(values: list[float]) -> str:
    s = mean_interval(values)
    if s["ci_low"] is None:
        return f"{s['mean']:.3f}"
    return f"{s['mean']:.3f} [{s['ci_low']:.3f}, {s['ci_high']:.3f}]"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("sweep")
    parser.add_argument("--store", default="runs")
    parser.add_argument("--per-group", type=int, default=200)
    args = parser.parse_args()
    sweep = json.loads((Path(args.sweep) / "sweep.json").read_text())
    data = load_dataset("demo")
    original = load_checkpoint(CHECKPOINT, data)[0].model
    rows = []
    for i, job in enumerate(j for j in sweep["jobs"] if j["state"] == "done"):
        rows.append(
            measure(Path(args.store) / job["run_id"], data, original, args.per_group, i == 0)
        )
    print(
        "| method | n | probe: original | probe: unlearned | probe: retrained | flagged | "
        "CKA original vs unlearned, penultimate |"
    )
    print("|---|---:|---|---|---|---:|---|")
    for method in dict.fromkeys(r["method"] for r in rows):
        mine = [r for r in rows if r["method"] == method]
        probes = {k: [r["probe"][k] for r in mine] for k in ("original", "unlearned", "retrained")}
        flagged = sum(bool(r["flag"]) for r in mine)
        print(
            f"| {method} | {len(mine)} | {cell(probes['original'])} | "
            f"{cell(probes['unlearned'])} | {cell(probes['retrained'])} | {flagged} | "
            f"{cell([r['cka_last'] for r in mine])} |"
        )
    clocks = {k: [r["clock"][k] for r in rows if k in r["clock"]] for k in rows[0]["clock"]}
    print("\n| view | seconds (median over runs) |\n|---|---:|")
    for view, times in clocks.items():
        print(f"| {view} | {statistics.median(times):.2f} |")


if __name__ == "__main__":
    main()
