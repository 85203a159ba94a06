"""`make test`'s worker scheduling keeps each tests/ folder together (its session fixtures
are made once) and starts the longest folders first."""

from __future__ import annotations

import pytest

from tests.support.xdist_folders import folder_of, start_order


@pytest.mark.parametrize(
    ("nodeid", "unit"),
    [
        ("tests/integration/test_deployed_iam.py::test_x[a/b]", "integration"),
        ("tests/training/test_training_local.py::Test::test_y", "training"),
        ("tests/test_progress.py::test_z", "tests/test_progress.py"),
    ],
)
def test_a_folder_is_one_work_unit_and_a_top_level_file_its_own(nodeid, unit):
    assert folder_of(nodeid) == unit


def test_the_cloud_and_training_folders_start_before_the_rest():
    nodeids = [
        "tests/eda/test_a.py::t",
        "tests/training/test_b.py::t",
        "tests/test_c.py::t",
        "tests/integration/test_d.py::t",
    ]
    ordered = sorted(nodeids, key=start_order)
    assert [folder_of(n) for n in ordered] == [
        "integration",
        "training",
        "eda",
        "tests/test_c.py",
    ]
