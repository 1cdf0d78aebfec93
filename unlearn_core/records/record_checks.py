"""The checks of `audit --verify --reproduce` that bind a record's words to its numbers: the
method and its settings, whether the oracle ran, whether the weights are what they claim to be
(not the original unchanged, not one model stored twice), privacy.json's verdict re-derived
from its own attack results, and audit.html's verdict re-derived from the recomputed numbers
(run/verdict.py, the same function that wrote it). Each returns one reproduce.Check.

What no check here can catch without a signature: a privacy.json whose attack results were
edited consistently (its N models are not in the record), settings of the method changed in
report.json and its command together (the unlearned weights would have to be recomputed from
the original), and a record made honestly by someone else's code.
"""

from __future__ import annotations

import dataclasses
import html
import re
import shlex
from dataclasses import dataclass

from unlearn_core.data import ImageDataset
from unlearn_core.errors import UserError
from unlearn_core.methods import check_request, get_method, parse_config
from unlearn_core.privacy.scores import rederive_verdict
from unlearn_core.privacy.store import same_forget
from unlearn_core.request import ForgetRequest
from unlearn_core.run.recompute import same_weights
from unlearn_core.run.report import PerModel, Report, read_mia, read_mia_flags
from unlearn_core.run.verdict import verdict

_VERDICT = re.compile(r'<p class="verdict" data-outcome="([^"]*)">(.*?)</p>', re.S)


@dataclass(frozen=True)
class Check:
    """One line of the verification: what was checked, whether it passed, and why."""

    name: str
    passed: bool
    detail: str
    kind: str = ""  # "skip" (not checked, and not relied on) or "note"; "" for pass/FAIL

    @property
    def line(self) -> str:
        return f"{self.kind or ('pass' if self.passed else 'FAIL')}: {self.name}: {self.detail}"


_check = Check


def method_check(report: Report, request: ForgetRequest):
    """The method is registered, takes this kind of request, and report.json's config is its
    whole configuration (every field, valid values); the recorded command names the same
    method, seed and settings."""
    try:
        spec = get_method(report.method)
        check_request(spec, request)
        if not isinstance(report.config, dict) or not isinstance(report.seed, int):
            raise UserError("report.json records no config or no seed")
        config = report.config
        fields = {f.name for f in dataclasses.fields(spec.config_cls)}
        if set(config) != fields:
            odd = sorted(set(config) ^ fields)[:3]
            raise UserError(f"config is not {spec.name}'s settings (differs at {', '.join(odd)})")
        if dataclasses.asdict(spec.config_cls(**config)) != config:
            raise UserError(f"config holds values {spec.name} would not record")
        _check_command(report, spec)
    except (UserError, TypeError, ValueError) as err:
        return _check("method and config", False, str(err).rstrip("."))
    return _check("method and config", True, f"{spec.name} with its whole, valid configuration")


def _check_command(report: Report, spec) -> None:
    """UserError where report.json's `command` names another method, seed or setting."""
    if not report.command:
        return
    try:
        words = shlex.split(report.command)
    except ValueError:
        raise UserError("report.json's command is not a command line") from None
    pairs = list(zip(words, words[1:], strict=False))
    for flag, value in pairs:
        if flag == "--method" and value != report.method:
            raise UserError(f"the command runs --method {value}, report.json says {report.method}")
        if flag == "--seed" and value != str(report.seed):
            raise UserError(f"the command runs --seed {value}, report.json says {report.seed}")
        if flag == "--set" and "=" in value:
            key, text = value.split("=", 1)
            key = key.split(".", 1)[-1]
            parsed = dataclasses.asdict(parse_config(spec.config_cls, {key: text}))[key]
            if parsed != (report.config or {}).get(key):
                raise UserError(f"the command sets {key}={text}, report.json's config differs")


def oracle_check(report: Report, raw: dict, has_retrained: bool):
    """A record that shows the oracle's traces must hold its weights (retrained.safetensors):
    numbers of a retrained model that is not there cannot be recomputed."""
    traces = {
        "metrics.retrained": report.metrics.retrained,
        "mia.retrained": report.mia.retrained,
        "mia_flags": report.mia_flags,
        "timing.retrain_seconds": report.timing.retrain_seconds,
        "gaps_to_retrained": raw.get("gaps_to_retrained"),
    }
    found = [name for name, value in traces.items() if value is not None]
    if report.command and "--oracle" in shlex.split(report.command.replace("'", " ")):
        found.append("--oracle in its command")
    if has_retrained:
        return _check("oracle", True, "retrained.safetensors is in the record")
    if found:
        return _check(
            "oracle",
            False,
            f"report.json shows a retrained model ({', '.join(found[:3])}) but the record holds "
            "no retrained.safetensors",
        )
    return _check("oracle", True, "no oracle in this run, and no retrained numbers claimed")


def weights_check(report: Report, models: PerModel, have_original: bool):
    """Whether the stored weights are the original's unchanged, or one model stored twice."""
    u, r, o = models.unlearned, models.retrained, models.original
    if same_weights(u, o):
        detail = "model.safetensors holds the original's weights, unchanged"
        if report.method == "none":
            return _check("weights", True, f"{detail} (method none: the control)", kind="note")
        return _check("weights", False, f"{detail}: the method {report.method} changed nothing")
    if same_weights(r, o):
        return _check("weights", False, "retrained.safetensors holds the original's weights")
    if same_weights(u, r) and report.method != "retrain":
        return _check(
            "weights",
            False,
            "retrained.safetensors is model.safetensors: no independent retrained model",
        )
    seen = "original, " if have_original else ""
    return _check("weights", True, f"the {seen}unlearned and retrained weights are distinct")


def privacy_check(report: Report, payload: bytes | None):
    """(check, privacy with its verdict re-derived) for a record's privacy.json; (None, None)
    without one. Its verdict is re-derived from its own U-LiRA results (privacy/verdict.py);
    it must be an audit of this run's request and configuration."""
    if payload is None:
        return None, None
    from unlearn_core.files import parse_json_bounded

    try:
        privacy = parse_json_bounded(payload, "privacy.json")
        if not isinstance(privacy, dict):
            raise UserError("privacy.json is not an object")
        if not same_forget(privacy.get("forget") or {}, report.forget.to_dict()):
            raise UserError("privacy.json audits another forget request")
        if privacy.get("config") != report.config:
            raise UserError("privacy.json audits another configuration of the method")
        outcome, reason = _privacy_verdict(privacy)
    except UserError as err:
        return _check("privacy audit", False, str(err).rstrip(".")), None
    if (privacy.get("verdict"), privacy.get("verdict_reason")) != (outcome, reason):
        detail = (
            f"privacy.json says {privacy.get('verdict')!r}; its own attack results give {outcome!r}"
        )
        return _check("privacy audit", False, detail), None
    return _check(
        "privacy audit", True, f"its verdict {outcome!r} follows from its U-LiRA results"
    ), privacy


def _privacy_verdict(privacy: dict) -> tuple[str, str]:
    try:
        return rederive_verdict(privacy)
    except (KeyError, TypeError, ValueError, IndexError):
        raise UserError(
            "privacy.json's verdict cannot be re-derived (no U-LiRA result, control, margin "
            "or power)"
        ) from None


def recomputed_report(report: Report, got: dict, keep_original: bool = False) -> Report:
    """`report` with every number the models give replaced by its recomputed value (a model
    not in the record as not measured). keep_original: the original model's numbers stay the
    recorded ones (it was not recomputed: no --checkpoint)."""
    metrics, mia = got["metrics"], read_mia(got["mia"])
    if keep_original:
        metrics = dataclasses.replace(metrics, original=report.metrics.original)
        mia = dataclasses.replace(mia, original=report.mia.original)
    return dataclasses.replace(
        report, metrics=metrics, mia=mia, mia_flags=read_mia_flags(got["mia_flags"])
    )


def verdict_check(
    recomputed: Report, privacy: dict | None, page: bytes, data: ImageDataset, original
):
    """audit.html's verdict (its outcome and its sentence) against the one the recomputed
    numbers give."""
    match = _VERDICT.search(page.decode("utf-8", "replace"))
    if match is None:
        return _check("verdict", False, "audit.html has no verdict paragraph")
    said, sentence = match.group(1), html.unescape(match.group(2))
    names = list(data.class_names)
    expected = [verdict(recomputed, privacy, n) for n in (names, None)]
    if any(v.outcome == said and v.paragraph == sentence for v in expected):
        source = (
            "the recomputed numbers"
            if original is not None
            else "the recomputed numbers and the original model's recorded ones (not in the "
            "record: pass --checkpoint ORIGINAL to check those too)"
        )
        return _check("verdict", True, f"{said}: audit.html's verdict follows from {source}")
    note = "" if original is not None else " (with the original model's recorded numbers)"
    if said != expected[0].outcome:
        detail = (
            f"audit.html says {said!r}; the recomputed numbers give {expected[0].outcome!r}{note}"
        )
    else:
        detail = "audit.html's verdict sentence is not the one the recomputed numbers give"
    return _check("verdict", False, detail)
