"""Names shared by the Lambda test modules (kept out of conftest.py, which is not importable
by name once several test folders have one)."""

from __future__ import annotations

from pathlib import Path

LAMBDAS_DIR = Path(__file__).resolve().parents[2] / "lambdas"
REGION = "us-east-1"
DATA_BUCKET = "scones-data"
RESULTS_BUCKET = "scones-results"
ENDPOINT_NAME = "scones-endpoint"
CLASS_NAMES = "bicycle,motorcycle"
