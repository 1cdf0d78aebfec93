"""Figure and table builders: data in, plotly figure or rows out. Nothing here runs a model."""
