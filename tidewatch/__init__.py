"""Tidewatch: the command-line entry point that ties the parts together."""

__version__ = "0.1.0"
