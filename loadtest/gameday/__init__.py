"""Game days: steady load, faults on a timeline, asserted outcomes, a scorecard."""
