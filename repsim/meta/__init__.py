"""repsim.meta."""
