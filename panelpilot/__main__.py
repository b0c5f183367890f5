"""``python -m panelpilot`` runs the command line."""

from panelpilot.cli import app

app()
