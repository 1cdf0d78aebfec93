"""Streamlit glue: the session's choices in the page address, so a reload (or a copied link)
keeps them: the current model, the forget request, the open runs, this session's jobs (so a
reload during a job still opens its results when it ends) and the methods chosen on the Unlearn
page. Streamlit forgets st.session_state on a reload; the query parameters survive it.

  ?model=<file name>&classes=3,5 (or &indices=1,7,9)&requester=..&request_date=YYYY-MM-DD
   &runs=<run id>,<run id>&run=<run id>&jobs=<job id>,<job id>&methods=unsir,ssd

(`run` is the open run the single-run pages show: run_picker.FOCUS.)

The model is named by its file name and restored only if it is one the picker offers (a shipped,
trained or uploaded checkpoint), so an address cannot make the server open an arbitrary file;
run ids and job ids are checked against the store, method names against the registry.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ui.jobs import job_manager
from ui.method_form import METHODS_KEY
from ui.model_sources import stored_models
from ui.run_picker import FOCUS
from ui.runs import run_store, set_forget
from ui.state import get_dataset, known_checkpoints, select_checkpoint, selection
from unlearn_core.errors import UserError
from unlearn_core.files import SAFE_ID
from unlearn_core.methods import all_methods
from unlearn_core.request import ForgetRequest, parse_indices
from unlearn_core.run.integrity import REPORT

ORIGIN = ("requester", "request_date")  # who asked and when, kept with the request
RESTORED = "url_restored"  # session-state flag: this session already read its address


MAX_OPEN_RUNS = 20  # runs an address may open at once
MAX_JOBS = 100  # this session's jobs the address keeps (the newest)


def _numbers(params, key: str) -> list[int]:
    """?classes= or ?indices= parsed as the request form parses them (request.parse_indices);
    a bad one is dropped with its one-line error."""
    try:
        return parse_indices(params.get(key, ""))
    except UserError as err:
        st.toast(f"?{key}= in the address was not restored: {err}")
        return []


def _runs(text: str) -> list[str]:
    """The run ids of ?runs= that name a run in the store. Anything else (a path, an id with no
    run) gets the same one note, so an address cannot probe which folders exist; the valid ids
    are kept."""
    root = run_store().root
    wanted = [r for r in text.split(",") if r][:MAX_OPEN_RUNS]
    found = [r for r in wanted if SAFE_ID.fullmatch(r) and (root / r / REPORT).is_file()]
    unknown = [r for r in wanted if r not in found]
    if unknown:
        shown = ", ".join(repr(r[:40]) for r in unknown[:3])
        st.toast(f"Not opened, no run of this store: {shown}.")
    return found


def restore_from_url() -> None:
    """On a session's first run, take the model, request and open runs from the address."""
    if st.session_state.get(RESTORED):
        return
    st.session_state[RESTORED] = True
    params = st.query_params
    offered = {Path(p).name: p for p in known_checkpoints() + stored_models()}
    if params.get("model") in offered:
        select_checkpoint(offered[params["model"]])
    classes, indices = _numbers(params, "classes"), _numbers(params, "indices")
    if classes or indices:
        origin = {k: params.get(k) for k in ORIGIN}
        _restore_request({"classes": classes, "indices": indices, **origin})
    if runs := _runs(params.get("runs", "")):
        st.session_state["open_runs"] = runs
        if params.get("run") in runs:
            st.session_state[FOCUS] = params["run"]
    if jobs := _jobs(params.get("jobs", "")):
        st.session_state["my_jobs"] = jobs
    methods = [m for m in params.get("methods", "").split(",") if m in all_methods()]
    if methods:
        st.session_state[METHODS_KEY] = methods


def _jobs(text: str) -> list[str]:
    """The job ids of ?jobs= that name a job of this store (others are dropped quietly: a
    job's file may have been cleaned away since)."""
    board = job_manager().board
    found = []
    for job_id in [j for j in text.split(",") if SAFE_ID.fullmatch(j)][-MAX_JOBS:]:
        try:
            found.append(board.get(job_id).id)
        except UserError:
            continue
    return found


def _restore_request(forget: dict) -> None:
    """The request, resolved against the current model's data set; one that does not fit it
    (an edited address) is dropped with a note rather than breaking every page."""
    _, dataset_name = selection()
    try:
        set_forget(ForgetRequest.from_dict(get_dataset(dataset_name), forget))
    except UserError as err:
        st.toast(f"The forget request in the address was not restored: {err}")


def save_to_url() -> None:
    """Write this session's model, request and open runs into the address."""
    wanted = {}
    if path := st.session_state.get("checkpoint_path"):
        wanted["model"] = Path(path).name
    forget = st.session_state.get("forget") or {}
    if forget.get("classes"):
        wanted["classes"] = ",".join(map(str, forget["classes"]))
    elif forget.get("indices"):
        wanted["indices"] = ",".join(map(str, forget["indices"]))
    wanted |= {k: forget[k] for k in ORIGIN if forget.get(k)}
    if runs := st.session_state.get("open_runs"):
        wanted["runs"] = ",".join(runs)
        if st.session_state.get(FOCUS) in runs:
            wanted["run"] = st.session_state[FOCUS]
    if jobs := st.session_state.get("my_jobs"):
        wanted["jobs"] = ",".join(jobs[-MAX_JOBS:])
    if methods := st.session_state.get(METHODS_KEY):
        wanted["methods"] = ",".join(methods)
    if dict(st.query_params) != wanted:
        st.query_params.from_dict(wanted)
