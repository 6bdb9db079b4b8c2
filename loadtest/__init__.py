"""loadtest: see the README."""
