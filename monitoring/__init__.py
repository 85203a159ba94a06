"""Monitoring: the endpoint's captured inferences as a report (`python -m monitoring report`)."""
