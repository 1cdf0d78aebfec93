"""Unlearning Workbench: the router. Run with `streamlit run app.py`.

Lists the pages (add a new one to PAGES), and shows in the sidebar which model every page works
on and where computation runs. Everything that computes lives in unlearn_core.
"""

import streamlit as st

from pages.common.state import get_model, selection
from unlearn_core.device import default_device
from unlearn_core.errors import UserError

st.set_page_config(page_title="Unlearning Workbench", layout="wide")

# (file under pages/, title, icon); the first is the landing page.
PAGES = [
    ("pages/1_model_and_data.py", "Model and data", ":material/dataset:"),
    ("pages/2_forget_request.py", "Forget request", ":material/playlist_remove:"),
    ("pages/3_unlearn.py", "Unlearn", ":material/play_arrow:"),
    ("pages/4_selected_slices.py", "Selected slices", ":material/grid_on:"),
    ("pages/5_weight_distances.py", "Weight distances", ":material/straighten:"),
    ("pages/6_predictions.py", "Predictions", ":material/bar_chart:"),
    ("pages/7_attribution.py", "Attribution", ":material/visibility:"),
    ("pages/8_privacy.py", "Privacy", ":material/shield:"),
    ("pages/9_verification.py", "Verification", ":material/rule:"),
    ("pages/10_runs_and_audit.py", "Runs and audit record", ":material/history:"),
]

page = st.navigation([st.Page(path, title=title, icon=icon) for path, title, icon in PAGES])

with st.sidebar:
    st.subheader("Current model")
    checkpoint_path, dataset_name = selection()
    try:
        trained, meta = get_model(checkpoint_path, dataset_name)
    except UserError:
        st.caption("No model loaded: the page says why.")
    else:
        st.markdown(f"**{trained.arch}** on **{dataset_name}**")
        st.caption(f"sha256 `{meta['sha256'][:12]}`")
    st.caption(f"Computation runs on `{default_device()}`")

page.run()
