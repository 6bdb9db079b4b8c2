"""The consumer-lag monitor for external clusters (``tidewatch lag``); see synthetics/README.md."""
