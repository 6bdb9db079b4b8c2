"""alerts: see the README."""
