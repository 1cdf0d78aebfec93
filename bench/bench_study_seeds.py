"""The unlearning-error study over many seeds (issue 23): r, the partial r controlling for the
step count t (both as Fisher-z means with 95% Student-t intervals), and the SD loss's effect
on both errors (mean relative change with a 95% Student-t interval) over seeds. Markdown out,
for BENCHMARKS.md.

    nice -n 19 python bench/bench_study_seeds.py --seeds 0-9 --out /tmp/study-seeds \
        [--grid sd_gamma=0,1 --grid epochs=1,2,3] [--forget-indices 0] [--arch smallcnn]

Each seed is one `study` command (reproducible by default: pinned ISA, 1 thread) writing
OUT/seed<S>/study.json; a seed whose study.json exists is not run again, so the seeds can be
run in several sittings. Not a test.
"""

import argparse
import json
import math
import statistics
import subprocess
import sys
from pathlib import Path

from scipy import stats

ROOT = Path(__file__).resolve().parent.parent


def seeds_of(text: str) -> list[int]:
    """ "0-9" or "0,3,5" -> the seeds."""
    if "-" in text:
        low, high = text.split("-")
        return list(range(int(low), int(high) + 1))
    return [int(s) for s in text.split(",")]


def run_seed(seed: int, out: Path, args) -> dict:
    target = out / f"seed{seed}"
    if not (target / "study.json").is_file():
        grid = [w for g in args.grid for w in ("--grid", g)]
        command = [sys.executable, "-m", "unlearn_core", "study", "--dataset", args.dataset]
        command += ["--arch", args.arch, *grid, "--forget-indices", args.forget_indices]
        command += ["--seed", str(seed), "--out", str(target)]
        command += ["--each-sample"] if args.each_sample else []
        subprocess.run(command, cwd=ROOT, check=True, capture_output=True)
    return json.loads((target / "study.json").read_text())


def interval(values: list[float], fisher: bool = False) -> str:
    """mean [95% Student-t interval] (n); fisher: for correlations, the interval of the mean
    Fisher z = atanh(r) mapped back by tanh (so it stays within [-1, 1]), its centre too."""
    z = [math.atanh(max(min(v, 0.999999), -0.999999)) for v in values] if fisher else values
    back = math.tanh if fisher else (lambda v: v)
    mean = statistics.fmean(z)
    if len(values) < 2:
        return f"{back(mean):.3f} (n 1)"
    half = stats.t.ppf(0.975, len(z) - 1) * statistics.stdev(z) / len(z) ** 0.5
    low, high = back(mean - half), back(mean + half)
    return f"{back(mean):.3f} [{low:.3f}, {high:.3f}] (n {len(values)})"


def sd_effects(summary: dict, column: str) -> dict[int, float]:
    """epochs -> relative change of `column` with the SD loss (gamma 1 against 0)."""
    rows = {(r["sd_gamma"], r["epochs"]): r[column] for r in summary["rows"]}
    return {e: rows[(1.0, e)] / rows[(0.0, e)] - 1 for (g, e) in rows if g == 0.0}


def report(summaries: list[dict]) -> str:
    env = summaries[0]["environment"]
    lines = [
        f"CPU {env['cpu_model']}, {env['cpu_capability']} kernels, ISA pinned "
        f"{env['pinned_isa']}, {env['threads']} thread(s); seeds: {len(summaries)}",
        "",
        "| quantity | mean [95% interval] (n) |",
        "|---|---|",
        f"| Pearson r | {interval([s['pearson_r'] for s in summaries], fisher=True)} |",
        f"| partial r given t | "
        f"{interval([s['partial_r_given_steps'] for s in summaries], fisher=True)} |",
        f"| seeds with partial r > 0 | "
        f"{sum(s['partial_r_given_steps'] > 0 for s in summaries)} of {len(summaries)} |",
    ]
    if "sd_gamma" in summaries[0]["grid"]:
        for column in ("unlearning_error", "verification_error"):
            effects = [sd_effects(s, column) for s in summaries]
            for epochs in sorted(effects[0]):
                values = [100 * e[epochs] for e in effects]
                lines.append(f"| SD loss: {column}, {epochs} epoch(s), % | {interval(values)} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seeds", default="0-9")
    parser.add_argument("--out", required=True)
    parser.add_argument("--grid", action="append", default=[])
    parser.add_argument("--forget-indices", default="0", help='e.g. "0" or "0,1,2"')
    parser.add_argument("--each-sample", action="store_true", help="average over the indices")
    parser.add_argument("--dataset", default="demo")
    parser.add_argument("--arch", default="smallcnn")
    args = parser.parse_args()
    args.grid = args.grid or ["sd_gamma=0,1", "epochs=1,2,3"]
    summaries = []
    for seed in seeds_of(args.seeds):
        summaries.append(run_seed(seed, Path(args.out), args))
        s = summaries[-1]
        print(
            f"seed {seed}: r {s['pearson_r']:.3f} partial {s['partial_r_given_steps']:.3f}",
            file=sys.stderr,
            flush=True,
        )
    print(report(summaries))


if __name__ == "__main__":
    main()
