"""app.py as the only router: every page, also one opened first by a deep link after a restart,
runs through it."""

from __future__ import annotations

from conftest import ROOT
from streamlit.runtime.pages_manager import PagesManager


def test_no_pages_folder_makes_streamlit_route_around_app_py():
    # Streamlit runs a pages/ folder beside the main script by itself (its own sidebar, no
    # app.py) until that script first calls st.navigation: a deep link after a restart did so.
    manager_flag = PagesManager.uses_pages_directory
    try:
        PagesManager.uses_pages_directory = None
        assert PagesManager(str(ROOT / "app.py")).uses_pages_directory is False
    finally:
        PagesManager.uses_pages_directory = manager_flag
