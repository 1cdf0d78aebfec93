"""The Streamlit helpers the pages share (not pages themselves; app.py names its pages).

state            the session-state contract between pages and the cached model/data loads
runs             the open runs of a session and their cached reports and models
run_picker       choosing one of the open runs
method_form      a settings form for any registered method, built from its config's field help
model_sources    training a model or importing weights from the "Model and data" page
inspect_helpers  the three models a run is compared across, and cached per-sample cards
"""
