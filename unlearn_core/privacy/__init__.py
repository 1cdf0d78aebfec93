"""The privacy audit: per-sample attacks over many models (Hayes et al., SaTML 2025; Triantafillou
et al., 2024), population attacks with intervals, and a verdict that can fail."""
