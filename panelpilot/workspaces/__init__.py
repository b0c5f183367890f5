"""Declarative workspace files: ``panelpilot workspace apply FILE.yaml`` and ``export SLUG``."""
