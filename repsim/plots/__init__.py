"""repsim.plots."""
