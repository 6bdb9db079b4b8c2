"""Load and benchmark tooling: ``tidewatch bench`` (see ``loadtest.bench``)."""
