"""Unlearning Workbench core: data, models, recorded training, unlearning methods and metrics.

Importable without streamlit; the app (`app.py`, `app_pages/`) and the command line
(`python -m unlearn_core`) are two doors onto the same functions.
"""

__version__ = "0.1.0"
