"""Issue 28, finding 5: a plug-in is known by the entry point that registered it, not by what its
function says about itself; a failed plug-in registers nothing; SystemExit at import, a method
that exits, raises or returns nothing, all end in one line; a slow import is named. In-process:
the entry points are faked, the modules are real files."""

from __future__ import annotations

import sys
from importlib.metadata import EntryPoint

import pytest
from conftest import DEMO_CHECKPOINT

import unlearn_core.methods as methods
from unlearn_core.cli.main import main

HEAD = """
import sys, time
from dataclasses import dataclass
import torch
from unlearn_core.methods import UnlearnResult, register, setting

@dataclass(frozen=True)
class Config:
    factor: float = setting(0.9, "a factor")
"""

IMPOSTOR = (
    HEAD
    + """
def unlearn(model, request, data, config, *, seed=0, progress=None):
    return UnlearnResult(model.copy_model())

unlearn.__module__ = "unlearn_core.methods.unsir"
unlearn.__qualname__ = "unlearn"
register("unsir", Config, "An impostor.")(unlearn)
"""
)

HALFWAY = (
    HEAD
    + """
@register("halfway-a", Config, "Registered before the failure.")
def unlearn(model, request, data, config, *, seed=0, progress=None):
    return UnlearnResult(model.copy_model())

raise RuntimeError("the second half failed")
"""
)

EXITS_AT_IMPORT = HEAD + "\nsys.exit(3)\n"
SLOW = HEAD + "\ntime.sleep(0.3)\n"


def method(name: str, body: str) -> str:
    return (
        HEAD
        + f'''
@register("{name}", Config, "A method that misbehaves.")
def unlearn(model, request, data, config, *, seed=0, progress=None):
    {body}
'''
    )


@pytest.fixture
def plugins(tmp_path, monkeypatch):
    """install(name, source): a module file and a fake entry point naming it; every plug-in
    and what it registered is gone after the test."""
    points = []
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(methods, "entry_points", lambda group: list(points))

    def install(name: str, source: str) -> None:
        module = f"fake_plugin_{name.replace('-', '_')}"
        (tmp_path / f"{module}.py").write_text(source)
        points.append(EntryPoint(name, module, methods.ENTRY_POINT_GROUP))

    yield install
    for point in points:
        methods.unregister_owner(f"plug-in {point.name}")
        for table in (methods.PLUGIN_ERRORS, methods.PLUGIN_WARNINGS):
            table.pop(point.name, None)
        methods.LOADED.discard(point.name)
        sys.modules.pop(point.value, None)


def test_an_impostor_with_unsirs_module_and_qualname_cannot_replace_it(plugins):
    builtin = methods.METHODS["unsir"]
    plugins("impostor", IMPOSTOR)
    errors = methods.load_plugins()
    assert errors["impostor"] == (
        "UserError: method 'unsir' is already registered by unlearn_core."
    )
    assert methods.METHODS["unsir"] is builtin


def test_a_failed_plugin_registers_nothing(plugins):
    plugins("halfway", HALFWAY)
    assert methods.load_plugins()["halfway"] == "RuntimeError: the second half failed"
    assert "halfway-a" not in methods.METHODS


def test_system_exit_at_import_is_contained_and_named(plugins, capsys):
    plugins("exits", EXITS_AT_IMPORT)
    methods.load_plugins()  # what importing unlearn_core.methods does at a command's start
    assert main(["list-methods"]) == 0
    captured = capsys.readouterr()
    assert "finetune" in captured.out.split()
    assert "warning: plug-in exits could not be loaded: SystemExit: 3" in captured.err


def test_a_slow_import_is_named(plugins, monkeypatch, capsys):
    monkeypatch.setattr(methods, "SLOW_PLUGIN_SECONDS", 0.1)
    plugins("slow", SLOW)
    methods.load_plugins()
    assert main(["list-methods"]) == 0
    assert "warning: plug-in slow took 0." in capsys.readouterr().err


def test_a_slow_plugin_is_named_by_the_command_that_waited_for_it(plugins, monkeypatch, capsys):
    monkeypatch.setattr(methods, "SLOW_PLUGIN_SECONDS", 0.1)
    monkeypatch.setattr(methods.registry, "PENDING_LOADERS", [methods.load_plugins])
    plugins("slow", SLOW)
    code = main(
        ["unlearn", "--checkpoint", str(DEMO_CHECKPOINT), "--method", "nope",
         "--forget-indices", "1", "--no-store", "--out", "unused"]
    )  # fmt: skip
    lines = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and lines[0].startswith("warning: plug-in slow took 0.")
    assert lines[-1].startswith("error: unknown method 'nope'")


@pytest.mark.parametrize(
    "body, message",
    [
        ("sys.exit(0)", "error: method 'exiter' failed: SystemExit"),
        ("raise RuntimeError('boom')", "error: method 'exiter' failed: RuntimeError: boom"),
        ("return None", "error: method 'exiter' returned NoneType, not an UnlearnResult."),
        ("return UnlearnResult(None)", "error: method 'exiter' returned no model"),
    ],
)
def test_a_misbehaving_method_is_one_line_and_writes_nothing(
    plugins, tmp_path, capsys, body, message
):
    plugins("exiter", method("exiter", body))
    methods.load_plugins()
    out = tmp_path / "out"
    code = main(
        ["unlearn", "--checkpoint", str(DEMO_CHECKPOINT), "--method", "exiter",
         "--forget-indices", "1,2", "--no-store", "--out", str(out)]
    )  # fmt: skip
    error = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(error) == 1 and error[0].startswith(message), error
    assert not out.exists()
