"""Streamlit glue for the Attribution, Privacy and Verification pages: the three models a run is
compared across, a cached per-sample card, and a preferred run for run_picker.choose_run.

The "original" model is the session's current one (ui.state); a run made from
another checkpoint is flagged with a warning rather than refused, since its maps and card
then compare with a different original.
"""

from __future__ import annotations

import streamlit as st
from torch import nn

from ui.runs import get_report, get_run_model, open_runs
from ui.state import get_dataset, get_model, selection
from unlearn_core.data import ImageDataset
from unlearn_core.errors import UserError
from unlearn_core.metrics.mia import svc_over_draws
from unlearn_core.metrics.sample_card import sample_card
from unlearn_core.request import ForgetRequest
from unlearn_core.run.report import Report


def prefer_run(key: str, method: str) -> None:
    """Preselect, for run_picker.choose_run(key), the newest open run made by `method`, unless
    this session already chose one."""
    if key in st.session_state:
        return
    for run_id in reversed(open_runs()):
        try:
            if get_report(run_id).method == method:
                st.session_state[key] = run_id
                return
        except UserError:
            continue


def run_context(
    run_id: str,
) -> tuple[Report, ImageDataset, ForgetRequest, dict[str, nn.Module | None]]:
    """(report, data, request, models) of a run, models = {"original": the current model,
    "unlearned", "retrained": None for a run without the oracle}; all cached and read-only.
    UserError when the current model is on another data set than the run."""
    report = get_report(run_id)
    path, dataset_name = selection()
    if report.dataset != dataset_name:
        raise UserError(
            f"this run is on {report.dataset} but the current model is on {dataset_name}: "
            "choose the run's checkpoint on Model and data."
        )
    data = get_dataset(dataset_name)
    trained, meta = get_model(path, dataset_name)
    if report.checkpoints.original_sha256 != meta["sha256"]:
        st.warning(
            "This run was made from another checkpoint than the current model, which stands in "
            "as its original here; choose the run's checkpoint on **Model and data** to compare "
            "with the model it started from."
        )
    retrained = None
    if report.checkpoints.retrained_sha256:  # stored only by runs with the oracle
        retrained = get_run_model(run_id, data, "retrained")
    models = {
        "original": trained.model,
        "unlearned": get_run_model(run_id, data),
        "retrained": retrained,
    }
    return report, data, ForgetRequest.from_dict(data, report.forget.to_dict()), models


@st.cache_data(show_spinner=False, max_entries=64)
def _card(
    run_id: str,
    original_sha256: str,
    index: int,
    _models: dict[str, nn.Module | None],
    _data: ImageDataset,
    _request: ForgetRequest,
) -> dict:
    return sample_card(index, _models, _data, _request)


@st.cache_data(show_spinner="Fitting the SVC on five draws of its samples…", max_entries=16)
def _svc_spread(
    run_id: str,
    original_sha256: str,
    _models: dict[str, nn.Module | None],
    _data: ImageDataset,
    _request: ForgetRequest,
) -> dict:
    return svc_over_draws(_models, _data, _request)


def svc_spread(run_id: str, models, data, request) -> dict:
    """metrics.mia.svc_over_draws of run_context's models, cached per run and checkpoint."""
    path, dataset_name = selection()
    return _svc_spread(run_id, get_model(path, dataset_name)[1]["sha256"], models, data, request)


def run_card(
    run_id: str,
    index: int,
    models: dict[str, nn.Module | None],
    data: ImageDataset,
    request: ForgetRequest,
) -> dict:
    """unlearn_core.metrics.sample_card.sample_card of training sample `index` under run_context's
    models, cached per run, current checkpoint (its sha256) and index. UserError for a bad
    index."""
    path, dataset_name = selection()
    original_sha256 = get_model(path, dataset_name)[1]["sha256"]
    present = sum(m is not None for m in models.values())
    what = (
        f"Measuring training sample #{index} under {present} models: its loss and prediction, "
        f"and its nearest neighbours among the features of {request.retain_indices.numel():,} "
        "retained images per model (seconds on a quiet machine; cached after)…"
    )
    with st.spinner(what, show_time=True):
        return _card(run_id, original_sha256, index, models, data, request)


def chosen_run_context(key: str, without_oracle: str):
    """The run chosen under `key` and its run_context: (run_id, report, data, request, models).
    Stops the page, after saying why, when no run is open or the run cannot be used; says
    `without_oracle` when the run has no retrained model."""
    from ui.run_picker import choose_run, show_warnings

    run_id = choose_run(key)
    if run_id is None:
        st.stop()
    try:
        report, data, request, models = run_context(run_id)
    except UserError as err:
        st.error(str(err))
        st.stop()
    show_warnings(report)
    if models["retrained"] is None:
        st.info(without_oracle)
    return run_id, report, data, request, models
