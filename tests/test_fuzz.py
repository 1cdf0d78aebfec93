"""Fuzzing (issue 12), seeded so a failure reproduces: the checkpoint loader and its metadata
(in a child process under a 1 GiB address-space limit above its start-up size, one time bound
per case), the forget-request parser and every registered method's settings. Anything but a
one-line UserError, code run by a pickle, a blow-up or a hang fails."""

from __future__ import annotations

import json
import math
import random
import subprocess
import sys
import time

import pytest
from conftest import ROOT

from unlearn_core.errors import UserError
from unlearn_core.methods import METHODS, parse_config
from unlearn_core.request import ForgetRequest, parse_indices

SEED = 20260412
INDEX_PIECES = ["1", "-1", "--1", "²", "٣", "1e3", "0x10", " ", ",", "9" * 30, "+1", "1.5", "∞"]
NUMBERS = [
    "nan", "inf", "-inf", "1e308", "-1e30", "1e8", "1e9", "0", "-1", "1", "2", "0.5", "1e-320",
    str(2**70), "-0", "1_000", "", "abc", "true", "false", "None", " 3 ", "1e1000", "0x1f",
]  # fmt: skip


def one_line(call) -> str:
    """'ok' or 'refused' for a call that ends well; the exception otherwise (a failure)."""
    try:
        call()
    except UserError as err:
        assert "\n" not in str(err), str(err)
        return "refused"
    return "ok"


def test_loader_and_metadata_in_a_bounded_child(tmp_path):
    start = time.monotonic()
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "fuzz_loader_worker.py"), str(tmp_path), str(SEED)],
        cwd=ROOT,
        env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin", "UNLEARN_DEVICE": "cpu"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    print(result)
    assert result["failures"] == [] and result["multi_line"] == 0
    assert not result["code_ran"]
    assert result["peak_rss_mib"] - result["base_rss_mib"] < 1024
    assert result["cases"] >= 200 and result["refused"] > result["accepted"]
    assert time.monotonic() - start < 60


@pytest.fixture(scope="module")
def digits():
    from unlearn_core.data import load_dataset

    return load_dataset("digits")


def test_request_parser(digits):
    rng = random.Random(SEED)
    outcomes = []
    for _ in range(200):
        text = "".join(rng.choice(INDEX_PIECES) for _ in range(rng.randint(0, 6)))
        outcomes.append(
            one_line(lambda t=text: ForgetRequest.for_indices(digits, parse_indices(t)))
        )
    assert len(outcomes) == 200 and "ok" in outcomes and "refused" in outcomes


def test_every_methods_settings():
    rng = random.Random(SEED)
    outcomes = []
    for name, spec in METHODS.items():
        fields = list(spec.config_cls.__dataclass_fields__)
        for _ in range(max(30, 10 * len(fields))):
            overrides = {}
            for key in rng.sample(fields, k=min(len(fields), rng.randint(1, 3))):
                overrides[key] = rng.choice(NUMBERS)
            if rng.random() < 0.05:
                overrides["no_such_setting"] = "1"
            started = time.monotonic()
            outcomes.append(one_line(lambda c=spec.config_cls, o=overrides: parse_config(c, o)))
            assert time.monotonic() - started < 1, (name, overrides)
    assert len(outcomes) >= 300 and outcomes.count("refused") > 0


@pytest.mark.parametrize("value", ["nan", "inf", "-1e30", "1e308", "1e9"])
def test_no_method_accepts_a_value_that_cannot_run(value):
    for spec in METHODS.values():
        for key, f in spec.config_cls.__dataclass_fields__.items():
            if f.type not in ("int", "float"):
                continue
            try:
                config = parse_config(spec.config_cls, {key: value})
            except UserError:
                continue
            got = getattr(config, key)
            assert math.isfinite(got) and abs(got) <= 1e7, (spec.name, key, value, got)
