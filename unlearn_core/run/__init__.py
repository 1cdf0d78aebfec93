"""A run: the typed report, the pipeline, sequences, the store and the audit record."""
