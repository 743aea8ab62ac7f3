"""``python -m repsim`` = the ``repsim`` command."""

from repsim.cli.main import app

app()
