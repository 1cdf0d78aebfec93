"""Unlearning Workbench: the router. Run with `streamlit run app.py`.

Lists the pages by section (add a new one to SECTIONS), and shows in the sidebar which model
every page works on and where computation runs. Everything that computes lives in unlearn_core.
"""

import streamlit as st

from ui.charts import chart_format_choice
from ui.jobs import jobs_panel, reproducible_switch
from ui.model_sources import provenance_captions
from ui.session_url import restore_from_url, save_to_url
from ui.state import get_model, selection
from unlearn_core.device import default_device
from unlearn_core.errors import UserError

st.set_page_config(page_title="Unlearning Workbench", layout="wide")

# Sections of the navigation: {section: [(file under app_pages/, title, icon)]}; the first page
# is the landing page. A page is named after the question it answers. The folder is not called
# pages/: Streamlit lists a pages/ folder by itself until this script first calls st.navigation,
# so after a restart a deep link (/unlearn) ran its page without this router.
SECTIONS = {
    "Set up": [
        ("app_pages/model_and_data.py", "Model and data", ":material/dataset:"),
        ("app_pages/forget_request.py", "Forget request", ":material/playlist_remove:"),
        ("app_pages/unlearn.py", "Unlearn", ":material/play_arrow:"),
    ],
    "Inspect a run": [
        ("app_pages/predictions.py", "Predictions", ":material/bar_chart:"),
        ("app_pages/weight_distances.py", "Weight distances", ":material/straighten:"),
        ("app_pages/selected_slices.py", "Selected slices", ":material/grid_on:"),
        ("app_pages/attribution.py", "Attribution", ":material/visibility:"),
        ("app_pages/representations.py", "Representations", ":material/scatter_plot:"),
        ("app_pages/verification.py", "Verification", ":material/rule:"),
    ],
    "Audit": [
        ("app_pages/privacy.py", "Privacy", ":material/shield:"),
        ("app_pages/runs_and_audit.py", "Runs and audit record", ":material/history:"),
    ],
}

page = st.navigation(
    {
        section: [st.Page(path, title=title, icon=icon) for path, title, icon in pages]
        for section, pages in SECTIONS.items()
    }
)

restore_from_url()  # a reload keeps the model, the request and the open runs
with st.sidebar:
    st.subheader("Current model")
    checkpoint_path, dataset_name = selection()
    try:
        trained, meta = get_model(checkpoint_path, dataset_name)
    except UserError:
        st.caption("No model loaded: the page says why.")
    else:
        st.markdown(f"**{trained.arch}** on **{dataset_name}**")
        for line in provenance_captions(meta):
            st.caption(line)
    st.caption(f"Computation runs on `{default_device()}`")
    chart_format_choice()
    reproducible_switch()
    st.subheader("Jobs")
    jobs_panel()

try:
    page.run()
finally:  # also when the page stops early (st.stop): what it chose is in the address
    save_to_url()
