"""repsim.cli."""
