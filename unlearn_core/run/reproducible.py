"""Reproducible mode (issue 23): pin what decides a computation's floating-point rounding, and
record what a rerun needs to know.

A CPU run's bits depend on the number of torch threads (a reduction is split by thread) and on
the instruction set the kernels are dispatched to: ATen picks AVX-512, AVX2 or scalar code at
load time (ATEN_CPU_CAPABILITY), MKL picks its code path (MKL_CBWR, "conditional numerical
reproducibility") and oneDNN its ISA (ONEDNN_MAX_CPU_ISA). All three are read once, when torch
loads, so the command line sets them in its environment and re-executes itself
(`pin_or_reexec`) before any work. On CUDA, deterministic algorithms and the cuBLAS workspace
(CUBLAS_WORKSPACE_CONFIG, read when cuBLAS starts) are pinned as well.

What the mode buys on each machine is measured, not assumed: BENCHMARKS.md, "Reproducibility".
"""

from __future__ import annotations

import contextlib
import os
import platform
import sys
from collections.abc import Iterator, Mapping

PINNED_ISA = "avx2"  # the widest ISA every x86-64 CPU this project supports has
PINNED_ENV = {
    "ATEN_CPU_CAPABILITY": PINNED_ISA,  # ATen's kernel dispatch
    "MKL_CBWR": "AVX2",  # MKL's code path (BLAS, used by matmul and convolutions)
    "ONEDNN_MAX_CPU_ISA": "AVX2",  # oneDNN's kernels (convolutions on the CPU)
    "CUBLAS_WORKSPACE_CONFIG": ":4096:8",  # deterministic cuBLAS (CUDA only)
}
REEXEC_MARK = "UNLEARN_REPRODUCIBLE_REEXEC"  # set in the child: a second re-exec is a bug


def pinned_isa(environ: Mapping[str, str] | None = None) -> str | None:
    """PINNED_ISA when `environ` (default: this process's) holds every pinned variable with
    its pinned value, else None (what report.json's environment.pinned_isa records)."""
    environ = os.environ if environ is None else environ
    return PINNED_ISA if all(environ.get(k) == v for k, v in PINNED_ENV.items()) else None


def pin_or_reexec(argv: list[str] | None) -> bool:
    """Before any work of a `--reproducible` command: when the ISA is not pinned yet, re-run
    `python -m unlearn_core argv` with PINNED_ENV added (the process is replaced; nothing it
    did is kept). With argv None (main() called in-process, as tests do) nothing is re-run
    and False says the ISA stays as torch loaded it. True: pinned already."""
    if pinned_isa() is not None:
        return True
    if argv is None:
        return False
    if os.environ.get(REEXEC_MARK):
        raise RuntimeError("reproducible mode re-executed itself and is still not pinned")
    env = {**os.environ, **PINNED_ENV, REEXEC_MARK: "1"}
    sys.stdout.flush()
    sys.stderr.flush()
    os.execve(sys.executable, [sys.executable, "-m", "unlearn_core", *argv], env)
    return False  # not reached


def apply(threads: int) -> None:
    """What can be pinned inside a running process: the torch thread count, and on CUDA
    deterministic algorithms (an op without a deterministic kernel warns) without cuDNN's
    autotuner."""
    import torch

    torch.set_num_threads(threads)
    if torch.cuda.is_available():
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True


@contextlib.contextmanager
def pinned(threads: int) -> Iterator[None]:
    """`apply(threads)` for the block only (a job in a long-lived app or Ray worker process):
    the thread count and the CUDA settings are restored after it."""
    before = torch_state()
    apply(threads)
    try:
        yield
    finally:
        restore_torch_state(before)


def torch_state() -> tuple:
    """What `apply` sets, as it is now: (threads, deterministic algorithms, warn only, cuDNN
    benchmark, cuDNN deterministic)."""
    import torch

    return (
        torch.get_num_threads(),
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
        torch.backends.cudnn.benchmark,
        torch.backends.cudnn.deterministic,
    )


def restore_torch_state(state: tuple) -> None:
    """Set what torch_state() returned back."""
    import torch

    torch.set_num_threads(state[0])
    torch.use_deterministic_algorithms(state[1], warn_only=state[2])
    torch.backends.cudnn.benchmark, torch.backends.cudnn.deterministic = state[3:]


NOT_PINNED = (
    "reproducible mode: the kernels' ISA is not pinned in the process that ran this job (threads "
    "are); start the app with UNLEARN_REPRODUCIBLE=1 bash scripts/start.sh to pin it"
)


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[int]:
    """Run the block at `threads` torch threads (None: as it is), restoring the count after;
    yields the count in use."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads or before)
    try:
        yield torch.get_num_threads()
    finally:
        torch.set_num_threads(before)


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo on Linux; platform's guess elsewhere)."""
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "unknown"


def environment() -> dict:
    """What else a bitwise rerun needs, as report.json and study.json record it:
    {threads, cpu_model, cpu_capability (the ISA torch's kernels use), pinned_isa (or None)}."""
    import torch

    return {
        "threads": torch.get_num_threads(),
        "cpu_model": cpu_model(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
        "pinned_isa": pinned_isa(),
    }


def other_cpu(recorded: Mapping | None) -> str | None:
    """One line when a record's environment names another CPU or kernel ISA than this
    process's (so its weights need not match bit for bit), else None."""
    if not recorded or not recorded.get("cpu_model"):
        return None
    here = environment()
    keys = ("cpu_model", "cpu_capability", "pinned_isa")
    if all(recorded.get(k) == here[k] for k in keys):
        return None

    def name(env: Mapping) -> str:
        isa = f"pinned {env['pinned_isa']}" if env.get("pinned_isa") else "not pinned"
        return f"{env.get('cpu_model')} ({env.get('cpu_capability')} kernels, ISA {isa})"

    return (
        f"made on another CPU: {name(recorded)}; this one: {name(here)}; "
        "bitwise equality is expected only with the same kernels (BENCHMARKS.md)"
    )
