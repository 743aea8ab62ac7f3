"""repsim.similarity."""
