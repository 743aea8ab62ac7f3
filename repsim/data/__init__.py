"""repsim.data."""
