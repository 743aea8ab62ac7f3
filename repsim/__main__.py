"""``python -m repsim`` = the ``repsim`` command (also ``torchrun ... -m repsim train``)."""

from repsim.cli.main import app

if __name__ == "__main__":  # not when a spawned worker re-imports the main module
    app()
