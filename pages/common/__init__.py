"""Helpers shared by app.py and the pages (not pages themselves: Streamlit lists only the .py
files directly in pages/, and app.py names its pages explicitly).

state    the session-state contract between pages and the cached model/data loads
"""
