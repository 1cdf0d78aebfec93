"""Run by tests/test_fuzz.py in a child process: the checkpoint loader and its metadata on
seeded random and hostile files, under an address-space limit of 1 GiB above the process's
size after start-up. Prints one JSON line: cases, one-line refusals, accepted, failures."""

from __future__ import annotations

import io
import json
import os
import pickle
import random
import resource
import sys
import time
import zipfile
from pathlib import Path

import torch
from safetensors.torch import save_file

from unlearn_core.checkpoint import load_checkpoint
from unlearn_core.data import load_dataset
from unlearn_core.errors import UserError
from unlearn_core.training import initial_model

GIB = 2**30
SECONDS_PER_CASE = 10.0


class Payload:
    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


def vm_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmSize:"):
            return int(line.split()[1]) * 1024
    return 0


def st(state: dict, meta) -> tuple[str, bytes]:
    """A .safetensors file of `state` (prefixed model.) with `meta` as the metadata text."""
    path = WORK / "m.safetensors"
    tensors = {"model." + k: v.contiguous() for k, v in state.items()}
    save_file(tensors, path, metadata=None if meta is None else {"unlearn_core": meta})
    return ".safetensors", path.read_bytes()


def pt(obj) -> tuple[str, bytes]:
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    return ".pt", buffer.getvalue()


def flip(payload: bytes, rng: random.Random) -> bytes:
    data = bytearray(payload)
    for _ in range(rng.randint(1, 16)):
        data[rng.randrange(len(data))] = rng.randrange(256)
    return bytes(data)


def hostile_metadata(rng: random.Random) -> str:
    choices = [
        "[1, 2]",
        '"smallcnn"',
        "{not json",
        '{"arch": ["logreg"]}',
        '{"arch": 5}',
        '{"arch": "vit_h_14"}',
        '{"arch": "resnet152"}',
        '{"arch": "no-such-arch"}',
        json.dumps({"arch": "logreg", "recipe": {"seed": 2**70}}),
        json.dumps({"arch": "logreg", "recipe": {"seed": -1}}),
        json.dumps({"arch": "logreg", "recipe": {"lr": "fast"}}),
        json.dumps({"arch": "logreg", "recipe": {"epochs": 10**9}}),
        '{"arch": "logreg", "recipe": {"lr": NaN}}',
        json.dumps({"arch": "logreg", "recipe": [1]}),
        json.dumps({"arch": "logreg", "history": "long"}),
        json.dumps({"arch": "logreg", "history": [1, 2]}),
        json.dumps({"arch": "logreg", "history": [{"loss": "x"}]}),
        json.dumps({"arch": "logreg", "probes": [1]}),
        json.dumps({"arch": "logreg", "dataset": ["digits"]}),
        json.dumps({"arch": "logreg", "dataset": "mnist"}),
        "[" * 100_000,
        json.dumps({"arch": "logreg", "recipe": {"batch_size": 0}}),
    ]
    if rng.random() < 0.5:
        return rng.choice(choices)
    value = rng.choice([None, 1, "x", 1e308, -(2**80), [], {}, True])
    return json.dumps({rng.choice(["arch", "recipe", "history", "probes", "dataset"]): value})


def cases(seed: int, base: dict, marker: str):
    """(label, suffix, bytes) of every hostile file."""
    yield "passwd", ".pt", Path("/etc/passwd").read_bytes()
    yield "pickle payload", ".pt", pt({"state_dict": Payload(marker)})[1]
    yield "raw pickle payload", ".pt", pickle.dumps({"w": Payload(marker)})
    huge_view = {k: v for k, v in base.items()}
    huge_view["1.weight"] = torch.zeros(1).expand(10**12)
    yield "stride-0 view of 4 TB", ".pt", pt(huge_view)[1]
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("archive/data.pkl", pickle.dumps({}))
        with zf.open("archive/data/0", "w", force_zip64=True) as entry:
            for _ in range(400):  # 400 MiB of zeros, deflated to about 400 KiB
                entry.write(bytes(2**20))
    yield "zip bomb", ".pt", bomb.getvalue()
    for dtype in (
        torch.int8,
        torch.uint8,
        torch.int32,
        torch.bool,
        torch.complex64,
        torch.float8_e4m3fn,
        torch.float8_e5m2,
        torch.float16,
        torch.float64,
    ):
        state = {
            k: (torch.ones_like(v) if dtype != torch.complex64 else v).to(dtype)
            for k, v in base.items()
        }
        if dtype == torch.complex64:
            state["1.weight"][0, 0] = complex(float("nan"), 0)
        yield f"dtype {dtype}", ".safetensors", st(state, json.dumps({"arch": "logreg"}))[1]
    yield from shape_cases(base)
    yield from random_cases(seed, base)


def shape_cases(base: dict):
    """Weights whose w_0 or model has a shape the architecture does not."""
    bad_w0 = {"model." + k: v for k, v in base.items()}
    bad_w0["w0.1.weight"] = torch.zeros(3, 3)
    path = WORK / "w0.safetensors"
    save_file(
        {k: v.contiguous() for k, v in bad_w0.items()},
        path,
        metadata={"unlearn_core": json.dumps({"arch": "logreg"})},
    )
    yield "w0 of the wrong shape", ".safetensors", path.read_bytes()
    wrong = {k: v for k, v in base.items()}
    wrong["1.weight"] = torch.zeros(3, 3)
    yield "wrong shape", ".pt", pt(wrong)[1]


def random_cases(seed: int, base: dict):
    """Hostile metadata, flipped bytes, random bytes and lying headers, drawn by `seed`."""
    rng = random.Random(seed)
    good_st = st(base, json.dumps({"arch": "logreg"}))[1]
    good_pt = pt(base)[1]
    for i in range(60):
        yield f"metadata {i}", ".safetensors", st(base, hostile_metadata(rng))[1]
    for i in range(50):
        yield f"flipped safetensors {i}", ".safetensors", flip(good_st, rng)
    for i in range(50):
        yield f"flipped pt {i}", rng.choice([".pt", ".pth"]), flip(good_pt, rng)
    for i in range(30):
        size = rng.choice([0, 1, 7, 8, 64, 4096])
        suffix = rng.choice([".pt", ".safetensors", ".pth"])
        yield f"random bytes {i}", suffix, rng.randbytes(size)
    for i in range(20):
        header = json.dumps(
            {
                "t": {
                    "dtype": "F32",
                    "shape": [rng.randint(0, 2**40)] * 2,
                    "data_offsets": [0, rng.randint(0, 64)],
                }
            }
        ).encode()
        payload = len(header).to_bytes(8, "little") + header + b"\0" * 64
        yield f"lying safetensors header {i}", ".safetensors", payload


def run(seed: int) -> dict:
    data = load_dataset("digits")
    base = initial_model("logreg", data, 0).state_dict()
    marker = str(WORK / "code-ran")
    base_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    limit = vm_bytes() + GIB
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    result = {"cases": 0, "refused": 0, "accepted": 0, "multi_line": 0, "failures": []}
    for label, suffix, payload in cases(seed, base, marker):
        path = WORK / f"case{suffix}"
        path.write_bytes(payload)
        del payload
        start = time.monotonic()
        result["cases"] += 1
        try:
            load_checkpoint(path, data, arch="logreg")
            result["accepted"] += 1
        except UserError as err:
            result["refused"] += 1
            result["multi_line"] += "\n" in str(err)
        except BaseException as err:  # noqa: BLE001 - any other ending is a failure
            result["failures"].append(f"{label}: {type(err).__name__}: {str(err)[:200]}")
        if time.monotonic() - start > SECONDS_PER_CASE:
            result["failures"].append(f"{label}: took {time.monotonic() - start:.1f} s")
        path.unlink()
    result["code_ran"] = os.path.exists(marker)
    result["base_rss_mib"] = base_rss
    result["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024
    return result


if __name__ == "__main__":
    WORK = Path(sys.argv[1])
    print(json.dumps(run(int(sys.argv[2]))))
