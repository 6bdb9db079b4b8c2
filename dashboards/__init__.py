"""dashboards: see the README."""
