"""Our FOCI against the L-CODEC authors' `torch_foci`, side by side in one process (issue 26).

    git clone https://github.com/vsingh-group/LCODEC-deep-unlearning /tmp/lcodec
    python bench/bench_foci.py --reference /tmp/lcodec [--repeats 3] [--threads 2]

`--reference` is a scratch checkout of the authors' repository; its `codec` package is imported
from there, never copied into this one. Two inputs, m = 1000 rows each:

- demo (p = the smallcnn's slice count): L-FOCI's own sample, the losses and slice activations
  of 1000 perturbed copies of demo training sample 0 (`methods/lfoci/slices.perturb`);
- synthetic (p = 1000): the authors' own timing problem (`torch_foci.main`), X uniform on
  [0, 1]^(1000 x 1000), Y = X[:, 34] + X[:, 87] + U(0, 1).

Both run plain FOCI (ours: randomized=False, standardize=False, no generator, i.e. Azadkia &
Chatterjee's estimator with ties to the lowest index, as theirs), both on the same float64
inputs, so that the selections can be compared (`--their-dtype float32` gives theirs float32,
as their own timing code does: faster for theirs, and near-tied neighbours then round
differently, so its later selections may differ). The selections and T values of both are
printed. Times are the median of `--repeats` runs, theirs first, each after one untimed warm-up
of both. Not a test.
"""

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from unlearn_core.checkpoint import load_checkpoint  # noqa: E402
from unlearn_core.data import load_dataset  # noqa: E402
from unlearn_core.methods.lfoci.codec import foci_with_scores  # noqa: E402
from unlearn_core.methods.lfoci.slices import perturb  # noqa: E402
from unlearn_core.training import per_sample_loss  # noqa: E402

CHECKPOINT = ROOT / "assets/models/demo_smallcnn.safetensors"


def demo_inputs(m: int) -> tuple[torch.Tensor, torch.Tensor]:
    """L-FOCI's sample for demo training sample 0: losses (m,), slice activations (m, p)."""
    data = load_dataset("demo")
    model = load_checkpoint(CHECKPOINT, data)[0].model.eval()
    x, y = data.batch(torch.tensor([0]), "cpu")
    generator = torch.Generator().manual_seed(0)

    def loss(logits, labels):
        return per_sample_loss(logits, labels, 0.0)

    with torch.no_grad():
        sample = perturb(model, x, y, loss, m, 0.1, generator)
    return sample.losses, sample.features


def synthetic_inputs(m: int, p: int) -> tuple[torch.Tensor, torch.Tensor]:
    generator = torch.Generator().manual_seed(12345)
    x = torch.rand(m, p, generator=generator, dtype=torch.float64)
    return x[:, 34] + x[:, 87] + torch.rand(m, generator=generator, dtype=torch.float64), x


def timed(fn, repeats: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def compare(name: str, y: torch.Tensor, x: torch.Tensor, reference, args) -> str:
    dtype = getattr(torch, args.their_dtype)
    theirs_fn = lambda: reference(x.to(dtype), y.to(dtype))  # noqa: E731
    ours_fn = lambda: foci_with_scores(y, x, None, False, None, standardize=False)  # noqa: E731
    theirs_fn(), ours_fn()  # warm-up: allocator, thread pool
    t_theirs, (their_sel, their_vals) = timed(theirs_fn, args.repeats)
    t_ours, ours = timed(ours_fn, args.repeats)
    same = [int(i) for i in their_sel] == ours.selected
    print(
        f"{name}: theirs {[int(i) for i in their_sel]} T {[round(float(v), 6) for v in their_vals]}"
    )
    print(f"{name}: ours   {ours.selected} T {[round(v, 6) for v in ours.scores]}")
    return (
        f"| {name} | {x.shape[0]} | {x.shape[1]} | {t_theirs:.3f} | {t_ours:.4f} | "
        f"{t_theirs / t_ours:.1f} | {'yes' if same else 'NO'} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--reference", required=True, help="checkout of LCODEC-deep-unlearning")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--m", type=int, default=1000)
    parser.add_argument(
        "--their-dtype",
        default="float64",
        choices=("float32", "float64"),
        help="what theirs is given (ours reads float64; their own timing code passes float32)",
    )
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    sys.path.insert(0, str(Path(args.reference).resolve()))
    from codec.torch_foci import foci as reference  # the authors' code, from the scratch folder

    rows = [
        compare("demo", *demo_inputs(args.m), reference, args),
        compare("synthetic", *synthetic_inputs(args.m, 1000), reference, args),
    ]
    print(
        f"\n{platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, torch "
        f"{torch.__version__}, {torch.get_num_threads()} threads, "
        f"{torch.backends.cpu.get_cpu_capability()}; load {os.getloadavg()[0]:.2f}"
    )
    print("| input | m | p | theirs (s) | ours (s) | ratio | same selection |")
    print("|---|---:|---:|---:|---:|---:|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
