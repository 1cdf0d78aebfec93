"""Unlearn: run one or several methods on the current forget request and compare the results."""

import streamlit as st

from ui.method_form import changed_settings, cli_command, setting_inputs
from ui.runs import add_open_run, current_request, get_report, open_runs, run_store
from ui.state import get_dataset, get_model, selection
from unlearn_core.errors import UserError
from unlearn_core.methods import METHODS
from unlearn_core.run.pipeline import run_unlearning
from unlearn_core.views.run_table import ACCURACY_COLUMNS, AUC_COLUMNS, results_table

st.title("Unlearn")
st.subheader("What am I looking at")
st.markdown(
    "Each method turns the trained model into one that should behave as if it had never seen the "
    "forget set: L-FOCI's Newton step on selected slices (Mehta et al., CVPR 2022), UNSIR's "
    "error-maximising noise with impair and repair (Tarun et al., 2023), the single-gradient "
    "update of *Unrolling SGD* (Thudi et al., 2022), and the fine-tuning baselines those papers "
    "compare with. The yardstick is the **retrained** model, trained by the same recipe and "
    "data order without the forget set: a method is good when its accuracies and its membership "
    "inference AUC (the loss attack of Yeom et al., 2018, after Shokri et al., 2017) match the "
    "retrained model's, and it gets there faster than retraining."
)

path, dataset_name = selection()
try:
    data = get_dataset(dataset_name)
    trained, meta = get_model(path, dataset_name)  # shared: run_unlearning only reads it
    request = current_request(data)
except UserError as err:
    st.error(str(err))
    st.stop()
if request is None:
    st.info("No forget request yet: make one on the **Forget request** page, then come back.")
    st.stop()

forget = st.session_state["forget"]
if request.classes:
    names = ", ".join(f"{c} ({data.class_names[c]})" for c in request.classes)
    st.markdown(f"Forgetting classes **{names}**: {request.count:,} training images.")
else:
    st.markdown(f"Forgetting **{request.count:,} training samples**.")
st.caption(f"{request.retain_indices.numel():,} training images are retained.")

usable = [name for name, spec in METHODS.items() if request.kind in spec.requests]
for name, spec in METHODS.items():
    if name not in usable:
        st.caption(
            f"`{name}` is not offered: it forgets {' or '.join(spec.requests)} only, and this "
            f"request is by {request.kind}. Change the request to use it."
        )
chosen = st.multiselect(
    "Methods",
    usable,
    key="unlearn_methods",
    help="Each chosen method runs on its own copy of the model; each run is stored.",
)

if chosen:
    with st.form("unlearn_form"):
        values = {}
        for name in chosen:
            with st.expander(f"`{name}` settings", expanded=len(chosen) == 1):
                st.markdown(METHODS[name].card)
                st.caption("Defaults are the paper's values (or the demo's, where they differ).")
                values[name] = setting_inputs(METHODS[name], f"unlearn_{name}")
        left, right = st.columns([3, 1], vertical_alignment="bottom")
        oracle = left.checkbox(
            "Also retrain the oracle",
            value=False,
            key="unlearn_oracle",
            help="Retrains the model from scratch without the forget set, by its recorded recipe "
            "and data order, once per method: a full training run (minutes on a CPU). Without "
            "it the table has no retrained accuracies, gaps or speed-up.",
        )
        seed = right.number_input("Seed", min_value=0, value=0, step=1, key="unlearn_seed")
        submitted = st.form_submit_button("Run", type="primary", key="unlearn_run")

    if submitted:
        with st.status(f"Running {len(chosen)} method(s)…", expanded=True) as status:
            bar = st.progress(0.0, text="starting")
            failed = 0
            for i, name in enumerate(chosen):

                def on_progress(fraction: float, phase: str, i=i, name=name) -> None:
                    bar.progress(min((i + fraction) / len(chosen), 1.0), text=f"{name}: {phase}")

                overrides = changed_settings(METHODS[name], values[name])
                try:
                    record = run_unlearning(
                        trained,
                        meta,
                        data,
                        request,
                        name,
                        overrides,
                        oracle=oracle,
                        seed=int(seed),
                        progress=on_progress,
                    )
                except UserError as err:
                    failed += 1
                    st.error(f"{name}: {err}")
                    continue
                run_id = run_store().save(record)
                add_open_run(run_id)
                st.markdown(f"`{name}` stored as run `{run_id}`; the same run from a shell:")
                st.code(
                    cli_command(path, name, forget, overrides, oracle, int(seed)),
                    language="bash",
                    wrap_lines=True,
                )
            done = len(chosen) - failed
            status.update(
                label=f"{done} of {len(chosen)} run(s) finished",
                state="error" if failed else "complete",
                expanded=bool(failed),
            )
else:
    st.info("Choose at least one method above to see its settings and run it.")

st.subheader("Results of the open runs")
try:
    reports = [get_report(run_id) for run_id in open_runs()]
except UserError as err:
    st.error(str(err))
    st.stop()
if not reports:
    st.info("No runs open yet: run a method above (or reopen one on the Runs page).")
    st.stop()
percent = {c: st.column_config.NumberColumn(c, format="percent") for c in ACCURACY_COLUMNS}
auc = {c: st.column_config.NumberColumn(c, format="%.3f") for c in AUC_COLUMNS}
timing = {
    "unlearn s": st.column_config.NumberColumn("unlearn (s)", format="%.1f"),
    "speed-up": st.column_config.NumberColumn("speed-up (×)", format="%.1f"),
}
st.dataframe(results_table(reports), hide_index=True, column_config=percent | auc | timing)
st.caption(
    "Accuracies of the unlearned model, then of the retrained one; gaps are unlearned minus "
    "retrained (0 is the target). MIA AUC: the loss attack on the forget set against unseen "
    "test images, 0.5 when it cannot tell them apart. Speed-up: retraining time over unlearning "
    "time."
)
if not any(r.has_oracle for r in reports):
    st.info(
        "None of these runs retrained the oracle, so there are no retrained columns, gaps or "
        "speed-ups: tick **Also retrain the oracle** and run again."
    )
