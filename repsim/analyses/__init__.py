"""repsim.analyses."""
