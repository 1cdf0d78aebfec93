"""The command line, one module per command family (`python -m unlearn_core --help`)."""
