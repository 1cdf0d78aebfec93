"""Every plotly chart of the app goes through `plot`, so each one can be downloaded from its
modebar: the camera button saves it as PNG (at twice the screen resolution) or SVG, whichever
`chart_format_choice` last chose. plotly.js offers one image button, whose format is set in the
chart's config; a second button would need a JavaScript click handler, which Streamlit's JSON
config cannot carry, so the format is this session's choice instead. All offline: plotly.js
draws the image in the browser.

Session-state key: st.session_state["chart_format"], "png" or "svg" (default "png").
"""

from __future__ import annotations

import re

import plotly.graph_objects as go
import streamlit as st

FORMATS = {"png": "PNG (picture)", "svg": "SVG (vector, for papers)"}
FORMAT_KEY = "chart_format"
_WIDGET_KEY = "_chart_format"  # the radio's own key; its value is copied to FORMAT_KEY


def _file_name(fig: go.Figure) -> str:
    """The figure's title as a file name: "Predictions on the forget set" ->
    "predictions-on-the-forget-set"."""
    title = re.sub(r"<[^>]+>", " ", fig.layout.title.text or "chart")  # drop <br> and the like
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-") or "chart"


def chart_config(fig: go.Figure) -> dict:
    """st.plotly_chart's config for `fig`: the camera button downloads it in this session's
    format, named after its title."""
    image_format = st.session_state.get(FORMAT_KEY, "png")
    return {
        "displaylogo": False,
        "toImageButtonOptions": {
            "format": image_format,
            "filename": _file_name(fig),
            "scale": 2 if image_format == "png" else 1,
        },
    }


def plot(fig: go.Figure, **kwargs):
    """st.plotly_chart with `chart_config`: what every page calls to draw a figure."""
    return st.plotly_chart(fig, config=chart_config(fig), **kwargs)


def _keep_format() -> None:
    st.session_state[FORMAT_KEY] = st.session_state[_WIDGET_KEY]


def chart_format_choice() -> None:
    """A choice of the camera button's format; it holds on every page, also those that do not
    draw this choice."""
    st.session_state[_WIDGET_KEY] = st.session_state.get(FORMAT_KEY, "png")
    st.radio(
        "Charts download as",
        list(FORMATS),
        format_func=FORMATS.get,
        key=_WIDGET_KEY,
        on_change=_keep_format,
        horizontal=True,
        help="The camera button at the top right of every chart saves it in this format.",
    )
