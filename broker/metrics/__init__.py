"""The broker's metrics: one catalog of names, cheap in-process counters, and a
Prometheus collector that turns them into exposition at scrape time."""
