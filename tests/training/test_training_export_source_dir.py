"""export.py in a SageMaker job's source_dir, where the repository's `etl` package is not:
it builds the drift statistics with the copy of etl/pixel_stats.py the launcher stages."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np

from etl.pixel_stats import PixelStatsBuilder
from training.sagemaker_job import SageMakerJob, stage_source

PROBE = """
import json, sys
import numpy as np
sys.modules["etl"] = None  # as in the training container: no repository, no etl package
sys.path.insert(0, sys.argv[1])
import export
images = np.random.default_rng(0).integers(0, 256, (20, 32, 32, 3), dtype=np.uint8)
print(json.dumps({"module": export.PixelStats.__module__,
                  "stats": export.pixel_statistics(images, "train").to_json()}))
"""


def test_staged_export_builds_the_etls_statistics_without_the_repository(tmp_path: Path):
    job = SageMakerJob(
        algorithm="pytorch", target="aws", channels=None, bucket=None, role=None,
        region=None, instance_type=None, vendor_onnxruntime=False,
    )  # fmt: skip
    stage_source(tmp_path, job)

    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(tmp_path)],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip

    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.splitlines()[-1])
    assert result["module"] == "pixel_stats"  # the staged copy, not etl.pixel_stats
    images = np.random.default_rng(0).integers(0, 256, (20, 32, 32, 3), dtype=np.uint8)
    assert result["stats"] == PixelStatsBuilder().add_images(images).build("train").to_json()
