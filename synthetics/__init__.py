"""synthetics: see the README."""
