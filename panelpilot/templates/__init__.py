"""Customer-facing message templates: defaults in code, per-workspace overrides in the database."""
