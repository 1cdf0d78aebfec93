"""What the reproducible mode buys (issue 23): the same work under several kernel ISAs and
thread counts, each in a fresh process (the ISA is read when torch loads), twice; which weights
agree bit for bit, and what pinning costs. Markdown out, for BENCHMARKS.md.

    nice -n 19 python bench/bench_reproducible.py [--epochs 2] [--repeats 2] [--threads 1,2]

The work: training the demo CNN by the demo checkpoint's recipe for --epochs epochs, then UNSIR
(defaults, seed 0) forgetting class 3 of the shipped demo checkpoint. ISAs: this CPU's own
(torch's default dispatch), AVX2 and scalar (ATEN_CPU_CAPABILITY=default) for ATen alone, and
the pinned mode (reproducible.PINNED_ENV: ATen, MKL and oneDNN at AVX2). Not a test.
"""

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from unlearn_core.run.reproducible import PINNED_ENV  # noqa: E402

ISAS = {
    "own": {},
    "aten avx2": {"ATEN_CPU_CAPABILITY": "avx2"},
    "aten scalar": {"ATEN_CPU_CAPABILITY": "default", "MKL_CBWR": "COMPATIBLE"},
    "pinned (--reproducible)": PINNED_ENV,
}
UNPINNED = {k: v for k, v in os.environ.items() if k not in PINNED_ENV and k != "MKL_CBWR"}


def work(epochs: int, threads: int) -> dict:
    """In this process: train, then UNSIR; weights hashes, accuracies and seconds."""
    import dataclasses

    import torch

    from unlearn_core.checkpoint import load_checkpoint
    from unlearn_core.data import load_dataset
    from unlearn_core.methods import get_method
    from unlearn_core.metrics.evaluate import evaluate
    from unlearn_core.request import ForgetRequest
    from unlearn_core.run.reproducible import environment
    from unlearn_core.torch_utils import weights_sha256
    from unlearn_core.training import train

    torch.set_num_threads(threads)
    data = load_dataset("demo")
    shipped, _ = load_checkpoint(ROOT / "assets/models/demo_smallcnn.safetensors", data)
    tick = time.perf_counter()
    trained = train("smallcnn", data, dataclasses.replace(shipped.recipe, epochs=epochs))
    train_s = time.perf_counter() - tick
    request = ForgetRequest.for_classes(data, [3])
    spec = get_method("unsir")
    tick = time.perf_counter()
    unlearned = spec.run(shipped, request, data, spec.config_cls(), seed=0).model
    unsir_s = time.perf_counter() - tick
    scores = evaluate(unlearned, data, request)
    return {
        "env": environment(),
        "train": weights_sha256(trained.model.state_dict()),
        "train_test_acc": trained.history[-1]["test_acc"],
        "train_s": train_s,
        "unsir": weights_sha256(unlearned.state_dict()),
        "unsir_retain_acc": scores["retain_acc"],
        "unsir_s": unsir_s,
    }


def measure(isa: str, threads: int, epochs: int) -> dict:
    """work() in a fresh process under the ISA's variables."""
    code = f"import json, bench_reproducible as b; print(json.dumps(b.work({epochs}, {threads})))"
    env = {**UNPINNED, **ISAS[isa], "PYTHONPATH": f"{ROOT / 'bench'}:{ROOT}"}
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    return {"isa": isa, "threads": threads, **json.loads(proc.stdout.strip().splitlines()[-1])}


def table(rows: list[dict]) -> str:
    """One Markdown row per measurement; short hashes, so equal bits read as equal text."""
    lines = [
        "| ISA variables | torch kernels | threads | run | train weights | test acc | train s "
        "| UNSIR weights | retain acc | UNSIR s |",
        "|---|---|---:|---:|---|---:|---:|---|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['isa']} | {r['env']['cpu_capability']} | {r['threads']} | {r['repeat']} "
            f"| `{r['train'][:10]}` | {r['train_test_acc']:.4f} | {r['train_s']:.1f} "
            f"| `{r['unsir'][:10]}` | {r['unsir_retain_acc']:.4f} | {r['unsir_s']:.1f} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--threads", default="1,2")
    parser.add_argument("--isas", default=",".join(ISAS))
    parser.add_argument("--json", help="also write every measurement to this file")
    args = parser.parse_args()
    rows = []
    for isa in args.isas.split(","):
        for threads in [int(t) for t in args.threads.split(",")]:
            for repeat in range(1, args.repeats + 1):
                rows.append({**measure(isa, threads, args.epochs), "repeat": repeat})
                print(table(rows[-1:]).splitlines()[-1], file=sys.stderr, flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=2))
    print(f"CPU: {rows[0]['env']['cpu_model']}; {args.epochs} training epochs\n")
    print(table(rows))


if __name__ == "__main__":
    main()
