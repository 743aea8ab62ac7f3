"""repsim.capture."""
