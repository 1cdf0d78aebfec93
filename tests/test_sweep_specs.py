"""Both doors build a sweep's specs with one function and one set of limits
(engine.sweep.sweep_specs): the Unlearn page (ui.jobs.method_specs) and `sweep` refuse and
accept the same sweeps, in the same words."""

from __future__ import annotations

import re

import pytest

from ui.jobs import method_specs
from unlearn_core.cli.main import main
from unlearn_core.errors import UserError


def page_specs(spec, chosen: dict, seeds: list[int]):
    """What the Unlearn page makes of `chosen` methods and `seeds` on the spec's checkpoint."""
    meta = {"sha256": spec.checkpoint_sha256}
    return method_specs(spec.checkpoint, meta, "demo", spec.forget, chosen, False, seeds)


def sweep_command(spec, tmp_path, methods: str, seeds: str, *settings: str) -> int:
    args = ["sweep", "--checkpoint", spec.checkpoint, "--methods", methods, "--seeds", seeds]
    args += ["--forget-indices", "0,5", *settings, "--executor", "inline"]
    return main([*args, "--out", str(tmp_path / "out")])


@pytest.mark.parametrize(
    ("seeds", "says"),
    [
        (list(range(1001)), "limited to 1000 jobs"),
        ([0, 0], "name each method and each seed once"),
        ([2**32], r"seeds must be whole numbers in \[0, 2\*\*32\)"),
    ],
)
def test_both_doors_refuse_the_same_sweeps_in_the_same_words(spec, tmp_path, capsys, seeds, says):
    with pytest.raises(UserError, match=says):
        page_specs(spec, {"none": {}}, seeds)
    assert sweep_command(spec, tmp_path, "none", ",".join(map(str, seeds))) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and re.search(says, err)


def test_the_page_runs_more_than_twenty_seeds_as_the_command_line_does(spec):
    specs, errors = page_specs(spec, {"none": {}}, list(range(21)))
    assert errors == [] and [s.seed for s in specs] == list(range(21))
    assert len({s.sweep_id for s in specs}) == 1 and specs[0].sweep_id


def test_a_refused_method_is_named_the_page_runs_the_rest_the_command_line_none(
    spec, tmp_path, capsys
):
    specs, errors = page_specs(spec, {"none": {}, "finetune": {"epochs": "0"}}, [0, 1])
    assert [(s.method, s.seed) for s in specs] == [("none", 0), ("none", 1)]
    assert len(errors) == 1 and errors[0].startswith("finetune: ")
    code = sweep_command(spec, tmp_path, "none,finetune", "0,1", "--set", "finetune.epochs=0")
    assert code == 2 and f"error: {errors[0]}" in capsys.readouterr().err
    assert not (tmp_path / "out" / "sweep.json").exists()
