"""lambdas/build.py: reproducible zips holding exactly what each handler imports."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from lambdas import build
from tests.lambdas.lambdas_constants import LAMBDAS_DIR

FUNCTIONS = json.loads((LAMBDAS_DIR / "functions.json").read_text())["functions"]


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    return build.build(tmp_path_factory.mktemp("zips"))


def entries(path: Path) -> list[zipfile.ZipInfo]:
    with zipfile.ZipFile(path) as archive:
        return archive.infolist()


def write_tree(root: Path, files: dict[str, str], functions: list[str]) -> Path:
    """A lambdas/ tree in tmp: the files and a functions.json for the named functions."""
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    spec = dict(FUNCTIONS["filter_low_confidence"])
    (root / "functions.json").write_text(json.dumps({"functions": dict.fromkeys(functions, spec)}))
    return root / "functions.json"


def test_every_function_in_functions_json_gets_a_zip(built) -> None:
    assert sorted(built) == sorted(FUNCTIONS)
    assert all(path.name == f"{name}.zip" for name, path in built.items())


def test_functions_json_and_the_function_folders_agree() -> None:
    folders = {p.parent.name for p in LAMBDAS_DIR.glob("*/handler.py")}
    assert folders == set(FUNCTIONS)


def test_two_builds_are_identical_byte_for_byte(built, tmp_path) -> None:
    again = build.build(tmp_path)

    for name, path in built.items():
        assert again[name].read_bytes() == path.read_bytes(), name


def test_entries_are_sorted_with_fixed_dates_and_permissions(built) -> None:
    for path in built.values():
        infos = entries(path)
        assert [i.filename for i in infos] == sorted(i.filename for i in infos)
        assert {i.date_time for i in infos} == {(1980, 1, 1, 0, 0, 0)}
        assert {i.external_attr >> 16 for i in infos} == {0o100644}


def test_zip_holds_the_handler_at_its_root_and_only_imported_helpers(built) -> None:
    names = {i.filename for i in entries(built["classify_image"])}
    assert "handler.py" in names and "common/images.py" in names
    filter_names = {i.filename for i in entries(built["filter_low_confidence"])}
    assert "common/images.py" not in filter_names
    for path in built.values():
        listed = [i.filename for i in entries(path)]
        assert all(n == "handler.py" or n.startswith("common/") for n in listed)
        assert not any("__pycache__" in n or n.endswith(".pyc") for n in listed)


def test_zip_contents_are_the_sources(built) -> None:
    with zipfile.ZipFile(built["serialize_image_data"]) as archive:
        assert (
            archive.read("handler.py")
            == (LAMBDAS_DIR / "serialize_image_data" / "handler.py").read_bytes()
        )
        assert (
            archive.read("common/images.py") == (LAMBDAS_DIR / "common" / "images.py").read_bytes()
        )


def test_imports_are_followed_transitively_including_relative_ones(tmp_path) -> None:
    functions_json = write_tree(
        tmp_path,
        {
            "fn/handler.py": "import json\nfrom helpers import a\n",
            "fn/local_util.py": "X = 1\n",
            "helpers/__init__.py": "",
            "helpers/a.py": "from .b import thing\nimport local_util\n",
            "helpers/b.py": "import boto3\nthing = 1\n",
            "helpers/unused.py": "import sagemaker\n",
        },
        ["fn"],
    )

    [path] = build.build(tmp_path / "out", functions_json=functions_json).values()

    assert [i.filename for i in entries(path)] == [
        "handler.py",
        "helpers/__init__.py",
        "helpers/a.py",
        "helpers/b.py",
        "local_util.py",
    ]


def test_a_new_helper_changes_only_the_zips_that_import_it(tmp_path) -> None:
    files = {"one/handler.py": "import common.x\n", "two/handler.py": "import json\n"}
    files |= {"common/__init__.py": "", "common/x.py": "A = 1\n"}
    functions_json = write_tree(tmp_path, files, ["one", "two"])
    before = {
        n: p.read_bytes()
        for n, p in build.build(tmp_path / "a", functions_json=functions_json).items()
    }

    (tmp_path / "common" / "x.py").write_text("A = 2\n")
    after = {
        n: p.read_bytes()
        for n, p in build.build(tmp_path / "b", functions_json=functions_json).items()
    }

    assert before["one"] != after["one"]
    assert before["two"] == after["two"]


def test_handler_importing_a_package_the_runtime_lacks_fails_the_build(tmp_path) -> None:
    functions_json = write_tree(tmp_path, {"fn/handler.py": "import sagemaker\n"}, ["fn"])

    with pytest.raises(build.BuildError, match="'sagemaker'"):
        build.build(tmp_path / "out", functions_json=functions_json)
    assert not (tmp_path / "out" / "fn.zip").exists()


def test_helper_importing_a_package_the_runtime_lacks_fails_the_build(tmp_path) -> None:
    files = {
        "fn/handler.py": "import json\nfrom common import fetch\n",
        "common/__init__.py": "",
        "common/fetch.py": "import os\nimport requests\n",
    }
    functions_json = write_tree(tmp_path, files, ["fn"])

    with pytest.raises(build.BuildError, match="'requests'") as error:
        build.build(tmp_path / "out", functions_json=functions_json)
    assert str(error.value).startswith(f"{tmp_path / 'common' / 'fetch.py'} (reached from ")
    assert not (tmp_path / "out" / "fn.zip").exists()


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"memory_mb": 64}, "memory_mb"),
        ({"timeout_s": "30"}, "timeout_s"),
        ({"runtime": "nodejs20.x"}, "runtime"),
        ({"handler": "main.handler"}, "handler"),
        ({"environment": ["lower_case"]}, "environment"),
    ],
)
def test_invalid_functions_json_entry_is_rejected(tmp_path, change, match) -> None:
    functions_json = write_tree(tmp_path, {"fn/handler.py": "import json\n"}, ["fn"])
    spec = json.loads(functions_json.read_text())
    spec["functions"]["fn"].update(change)
    functions_json.write_text(json.dumps(spec))

    with pytest.raises(build.BuildError, match=match):
        build.build(tmp_path / "out", functions_json=functions_json)


def test_cli_prints_each_zip_and_where(tmp_path) -> None:
    completed = subprocess.run(
        [sys.executable, str(LAMBDAS_DIR / "build.py"), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        check=False,
    )

    assert completed.returncode == 0, completed.stderr
    assert f"built {len(FUNCTIONS)} Lambda zip(s) in {tmp_path}" in completed.stdout
    assert all(f"{name}.zip" in completed.stdout for name in FUNCTIONS)


def test_cli_error_is_one_line_and_a_non_zero_exit(tmp_path) -> None:
    completed = subprocess.run(
        [sys.executable, str(LAMBDAS_DIR / "build.py"), "--out", str(tmp_path), "--only", "nope"],
        capture_output=True,
        text=True,
        check=False,
    )

    assert completed.returncode == 2
    assert completed.stderr.strip() == "build.py: error: not in functions.json: nope"
    assert list(tmp_path.iterdir()) == []
