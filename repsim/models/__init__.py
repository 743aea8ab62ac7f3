"""repsim.models."""
