"""The audit page of a run: one self-contained HTML file an auditor reads offline.

`audit_html` renders a run's Report (report.json, DESIGN.md) as a single HTML file opening with
a one-paragraph verdict (run/verdict.py): checkpoint hashes, the forget request, seed,
configuration, recipe, versions, timings, the three models' metrics, the membership-inference
block, figures (plotly.js inlined once; nothing is fetched when it is opened) and one sentence
per metric with the paper it comes from. Every string taken from the report is escaped, so a
hostile class name or config value is shown, never run. The record that bundles it with the
weights is views/audit_record.py.
"""

from __future__ import annotations

import html
import json
from collections.abc import Sequence
from pathlib import Path

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from unlearn_core.request import class_label
from unlearn_core.run.integrity import MODEL, RETRAINED
from unlearn_core.run.report import GAP_KEYS, MODELS, Forget, Report, metric
from unlearn_core.run.verdict import verdict
from unlearn_core.views import figures as viz
from unlearn_core.views.audit_privacy import privacy_section

METRIC_ROWS = (  # report.json's metrics keys, in the order an auditor reads them
    ("forget_acc", "Forget accuracy"),
    ("retain_acc", "Retain accuracy"),
    ("test_acc", "Test accuracy"),
    ("forgotten_classes_test_acc", "Test accuracy on the forgotten classes"),
    ("mia_auc", "Loss-attack MIA AUC"),
    ("forget_loss", "Forget-set loss (cross-entropy)"),
)
DEFINITIONS = (
    (
        "Forget accuracy",
        "The share of the forget set (the training samples asked to be forgotten) that the model "
        "classifies correctly; a good unlearned model matches the model retrained without them "
        "rather than zero (Tarun et al., 'Fast Yet Effective Machine Unlearning', 2023).",
    ),
    (
        "Retain accuracy",
        "The share of the remaining training samples classified correctly: what unlearning must "
        "not destroy (Tarun et al., 2023; Mehta et al., 'Deep Unlearning via Randomized "
        "Conditionally Independent Hessians', CVPR 2022).",
    ),
    (
        "Test accuracy",
        "The share of held-out test samples classified correctly (for class forgetting, over the "
        "retained classes), i.e. how well the model still generalises (Mehta et al., CVPR 2022).",
    ),
    (
        "MIA AUC",
        "The area under the ROC curve of a membership-inference attack telling forget-set samples "
        "from unseen test samples: 0.5 means they look alike (Shokri et al., S&P 2017; loss attack "
        "of Yeom et al., CSF 2018; confidence SVC of Jia et al., NeurIPS 2023; Song and Mittal, "
        "USENIX Security 2021).",
    ),
    (
        "TPR at low FPR",
        "The share of forget-set samples the attack flags as members while it flags at most 1% "
        "(or 0.1%) of non-members, the regime that matters to an auditor (Carlini et al., "
        "'Membership Inference Attacks From First Principles', S&P 2022).",
    ),
    (
        "Layer distance",
        "The L2 distance, per parameter tensor, between the unlearned weights and the original "
        "(or retrained) weights, showing where the method changed the model (Tarun et al., 2023, "
        "Fig. 2).",
    ),
    (
        "Unlearning error",
        "The retraining-free proxy eta^2 (||w_t - w_0|| / t) sigma_avg (t^2 - t) / 2 of the "
        "verification error of single-gradient unlearning, from the training record alone "
        "(Thudi et al., 'Unrolling SGD', EuroS&P 2022, Eq. 9).",
    ),
    (
        "Verification error",
        "The L2 distance between the unlearned weights and the weights retrained without the "
        "forget set by the same recipe and data order; zero is exact unlearning (Thudi et al., "
        "'Unrolling SGD', EuroS&P 2022, Sec. 4).",
    ),
)
STYLE = """
body { font-family: system-ui, sans-serif; max-width: 70rem; margin: 2rem auto; padding: 0 1rem;
       color: #111; line-height: 1.45; }
table { border-collapse: collapse; margin: 0.5rem 0 1.5rem; }
th, td { border: 1px solid #bbb; padding: 0.25rem 0.6rem; text-align: left; vertical-align: top; }
th { background: #eef3f8; }
code, .mono { font-family: ui-monospace, monospace; word-break: break-all; }
dt { font-weight: 600; margin-top: 0.6rem; }
.verdict { font-size: 1.1rem; border-left: 4px solid #4a6a8a; padding: 0.4rem 0.8rem;
           background: #f4f7fa; }
"""


def _e(value) -> str:
    return html.escape(str(value), quote=True)


def format_value(value, exact: bool = False) -> str:
    """A report value as text: floats to 4 significant digits (all of them when `exact`, for
    settings a reader may retype), None as "n/a"."""
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return str(value) if exact else f"{value:.4g}"
    if isinstance(value, (list, tuple)):
        return ", ".join(format_value(v, exact) for v in value)
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True)
    return str(value)


def _table(header: Sequence[str], rows: Sequence[Sequence], mono: int | None = None) -> str:
    """An escaped HTML table; column `mono` in a monospaced font (hashes)."""
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = []
    for row in rows:
        cells = (
            f'<td class="mono">{_e(c)}</td>' if i == mono else f"<td>{_e(c)}</td>"
            for i, c in enumerate(row)
        )
        body.append(f"<tr>{''.join(cells)}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _key_values(values: dict | None, exact: bool = True) -> str:
    if not values:
        return "<p>None recorded.</p>"
    return _table(("setting", "value"), [(k, format_value(v, exact)) for k, v in values.items()])


def default_figures(
    report: Report, class_names: Sequence[str] | None = None
) -> dict[str, go.Figure]:
    """The report's prediction distribution on the forget set, layer-wise weight distances and,
    when the report has them, the membership attacks' ROC curves (unlearn_core.views.figures)."""
    figures = {}
    present = list(report.prediction_distribution.present().values())
    if present:
        names = list(class_names) if class_names else [str(i) for i in range(len(present[0]))]
        counts = report.prediction_distribution.to_dict()
        figures["Predictions on the forget set"] = viz.prediction_distribution(names, counts)
    if report.layer_distance:
        figures["Layer-wise weight distance"] = viz.layer_distance_bars(report.layer_distance)
    if report.mia.present():
        figures["Membership inference ROC"] = viz.roc_curves(report.mia)
    return figures


def _hashes(report: Report) -> list[tuple[str, str, str]]:
    """(what, file, sha256) rows: the three models, the original as its owner supplied it (when
    it was imported), and the data set's content (pipeline.dataset_sha256: its tensors, not
    the path they were read from)."""
    checks = report.checkpoints
    files = {"original": checks.original_file or "", "unlearned": MODEL, "retrained": RETRAINED}
    rows = [(m, files[m], getattr(checks, f"{m}_sha256") or "not stored") for m in MODELS]
    if checks.source_sha256 and checks.source_sha256 != checks.original_sha256:
        rows.insert(1, ("original, as supplied", checks.source_file or "", checks.source_sha256))
    data = report.data_sha256 or "not recorded (a run of before)"
    rows.append((f"data set {report.dataset} (its tensors)", "", data))
    return rows


def _warnings_section(warnings: Sequence[str]) -> str:
    if not warnings:
        return "<p>None: the method and the pipeline flagged nothing.</p>"
    return "<ul>" + "".join(f"<li>{_e(w)}</li>" for w in warnings) + "</ul>"


def _forget_section(forget: Forget, class_names: Sequence[str] | None) -> str:
    """Who asked and when, what is forgotten and the training indices themselves (for a class
    request: the positions of its training images, derived from the labels)."""
    origin = {"requested by": forget.requester, "request date": forget.request_date}
    what = _key_values({k: v or "not recorded" for k, v in origin.items()})
    indices = forget.indices or []
    if forget.classes:
        classes = ", ".join(class_label(c, class_names) for c in forget.classes)
        what += f"<p>Classes forgotten: {_e(classes)} ({_e(forget.count)} training samples)."
        what += (
            " Their indices, below, are every training image labelled with these classes in the"
            " data set whose tensors have the sha256 above.</p>"
            if indices
            else " This run of before lists no indices.</p>"
        )
    else:
        what += f"<p>{_e(forget.count)} training samples forgotten, by index:</p>"
    if indices:
        what += f'<p class="mono">{_e(", ".join(map(str, indices)))}</p>'
    return what + "<p>Indices are positions in the data set's training split.</p>"


def _metrics_section(report: Report) -> str:
    gaps = report.gaps_to_retrained
    rows = []
    for key, label in METRIC_ROWS:
        values = [metric(getattr(report.metrics, m), key) for m in MODELS]
        if any(v is not None for v in values) or (key in GAP_KEYS and gaps is not None):
            rows.append((label, *map(format_value, values), format_value(metric(gaps, key))))
    header = ("metric", *MODELS, "unlearned - retrained")
    note = "" if report.has_oracle else "<p>No retrained oracle: rerun with --oracle.</p>"
    return _table(header, rows) + note


def _mia_section(report: Report) -> str:
    flags = report.mia_flags.present() if report.mia_flags is not None else {}
    rows = []
    for model, attacks in report.mia.present().items():
        for attack, s in attacks.present().items():
            flag = flags.get(attack) if model == "unlearned" else None
            rows.append(
                (
                    model,
                    attack,
                    format_value(s.auc),
                    format_value(s.tpr_at_1pct_fpr),
                    format_value(s.tpr_at_0_1pct_fpr),
                    f"{s.members} / {s.nonmembers}",
                    flag.status if flag is not None else "",
                )
            )
    if not rows:
        return "<p>This run records no membership-inference block.</p>"
    header = ("model", "attack", "AUC", "TPR at 1% FPR", "TPR at 0.1% FPR", "members / non")
    return _table((*header, "compared with retrained"), rows)


def _representations_section(report: Report) -> str:
    """The probe (with its flag) and the layer CKA the run kept (metrics/representations.py)."""
    summary = report.representations
    if not summary:
        return "<p>Not measured: the run has no retrained model to compare with.</p>"
    probe = summary["probe"]
    rows = [
        (
            model,
            format_value(r["accuracy"]),
            f"[{format_value(r['ci_low'])}, {format_value(r['ci_high'])}]",
        )
        for model, r in probe["probe"].items()
        if r is not None
    ]
    verdict = {
        True: "The unlearned model's features still encode what was forgotten: its probe is "
        "above the retrained model's 95% interval.",
        False: "The unlearned model's probe is within or below the retrained model's interval.",
        None: "No verdict: a model is missing.",
    }[probe["flag"]]
    cka = summary["cka"]
    pairs = ("original_vs_unlearned", "unlearned_vs_retrained")
    layers = [
        (layer, *(format_value((cka.get(k) or [None] * (i + 1))[i]) for k in pairs))
        for i, layer in enumerate(cka["layers"])
    ]
    return (
        f"<p>Linear probe, {_e(probe['task'])}, on {_e(probe['layer'])} features "
        f"({summary['per_group']} images per group). {_e(verdict)}</p>"
        + _table(("model", "held-out accuracy", "95% interval"), rows)
        + "<p>Linear CKA per layer on the forgotten images (1: the same representation).</p>"
        + _table(("layer", "original vs unlearned", "unlearned vs retrained"), layers)
    )


def _figure_html(figures: dict[str, go.Figure]) -> str:
    parts = []
    for number, (title, fig) in enumerate(figures.items(), 1):
        # plotly writes the figure's JSON with "<" and "/" escaped, so strings cannot close the tag
        div = fig.to_html(
            full_html=False,
            include_plotlyjs=False,
            div_id=f"figure-{number}",
            config={"displaylogo": False},
        )
        parts.append(f"<h3>{_e(title)}</h3>{div}")
    return "".join(parts)


def _overview(report: Report) -> dict:
    overview = {
        k: getattr(report, k) for k in ("run_id", "created", "method", "dataset", "arch", "seed")
    }
    # the file the data came from, without the server's folders: the content is its sha256
    overview["data_source"] = report.data_source and Path(report.data_source).name
    overview["device"] = report.device
    return overview


def _sections(report: Report, figures: dict, class_names, privacy) -> list[tuple[str, str]]:
    """(heading, HTML) of each section of the page, in the order an auditor reads them."""
    timing = {**report.timing.to_dict(), "speedup_over_retrain": report.speedup_over_retrain}
    errors = {
        "unlearning_error": report.unlearning_error,
        "verification_error": report.verification_error,
        "verification_error_without_update": report.verification_error_without_update,
    }
    recipe_note = "" if report.recipe_recorded is not False else " (not recorded: defaults)"
    return [
        ("Run", _key_values(_overview(report))),
        ("Checkpoints and data (sha256)", _table(("what", "file", "sha256"), _hashes(report), 2)),
        ("Warnings", _warnings_section(report.warnings)),
        ("Forget request", _forget_section(report.forget, class_names)),
        ("Method configuration", _key_values(report.config)),
        (f"Training recipe{recipe_note}", _key_values(report.recipe)),
        ("Metrics of the three models", _metrics_section(report)),
        ("Privacy audit over many models", privacy_section(privacy, _table, _e, format_value)),
        ("Membership inference (this run's single models)", _mia_section(report)),
        ("What the features still know", _representations_section(report)),
        ("Unlearning and verification error", _key_values(errors, exact=False)),
        ("Timings (seconds)", _key_values(timing, exact=False)),
        ("Versions", _key_values(report.versions.to_dict())),
        ("Figures", _figure_html(figures) if figures else "<p>No figures.</p>"),
        (
            "Metric definitions",
            "<dl>" + "".join(f"<dt>{_e(t)}</dt><dd>{_e(d)}</dd>" for t, d in DEFINITIONS) + "</dl>",
        ),
    ]


def audit_html(
    report: Report,
    figures: dict[str, go.Figure] | None = None,
    class_names: Sequence[str] | None = None,
    privacy: dict | None = None,
) -> str:
    """The audit record of one run as a self-contained HTML page (str), opening with a
    one-paragraph verdict in plain words (run/verdict.py).

    report: a run's Report. figures: title -> figure, added after (or replacing, by title)
    the default ones built from the report (`default_figures`). class_names: the data set's
    class names, for the forget list and the prediction figure (numbers when None). privacy:
    the run's privacy audit (privacy_record.latest_audit), or None.
    """
    figures = {**default_figures(report, class_names), **(figures or {})}
    title = f"Audit record: {report.method} run {report.run_id or ''}".strip()
    summary = verdict(report, privacy, list(class_names) if class_names else None)
    opening = f'<p class="verdict" data-outcome="{_e(summary.outcome)}">{_e(summary.paragraph)}</p>'
    sections = _sections(report, figures, class_names, privacy)
    plotly_js = f'<script type="text/javascript">{get_plotlyjs()}</script>' if figures else ""
    body = "".join(f"<h2>{_e(h)}</h2>{content}" for h, content in sections)
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        f"<title>{_e(title)}</title><style>{STYLE}</style>{plotly_js}</head>"
        f"<body><h1>{_e(title)}</h1>{opening}{body}</body></html>"
    )
