"""Every bad input: one line `error: ...`, a non-zero exit, and no complete-looking output."""

from __future__ import annotations

import gzip
import io
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from etl.synthetic import dumps_py2, meta_dict, split_dict, write_archive, write_members
from tests.etl.etl_helpers import BICYCLE, MOTORCYCLE, Generated, assert_one_line_error


def small_split(n: int = 4, **overrides: object) -> dict[bytes, object]:
    rng = np.random.default_rng(n)
    labels = [BICYCLE, MOTORCYCLE] * (n // 2)
    split = split_dict(
        rng.integers(0, 256, (n, 3072), dtype=np.uint8),
        labels,
        [f"img_s_{i:06d}.png" for i in range(n)],
        "batch",
    )
    split.update({k.encode(): v for k, v in overrides.items()})
    return split


def assert_no_output(out: Path) -> None:
    assert not (out / "manifest.json").exists()
    assert not list(out.glob("*/*.png")) if out.exists() else True


class Malicious:
    """Unpickling this would run a shell command that creates `marker`."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_missing_source_file_is_reported(run_cli, tmp_path: Path) -> None:
    result = run_cli("--source", tmp_path / "nope.tar.gz", "--out", tmp_path / "out")

    assert_one_line_error(result, "nope.tar.gz", "does not exist")
    assert_no_output(tmp_path / "out")


def test_source_that_is_a_folder_is_reported(run_cli, tmp_path: Path) -> None:
    result = run_cli("--source", tmp_path, "--out", tmp_path / "out")

    assert_one_line_error(result, "is not a file")


def test_truncated_gzip_is_reported(run_cli, generated: Generated, tmp_path: Path) -> None:
    data = generated.path.read_bytes()
    truncated = tmp_path / "truncated.tar.gz"
    truncated.write_bytes(data[: len(data) // 2])

    result = run_cli("--source", truncated, "--out", tmp_path / "out")

    assert_one_line_error(result, "truncated.tar.gz", "truncated or corrupt")
    assert_no_output(tmp_path / "out")


def test_corrupt_gzip_is_reported(run_cli, generated: Generated, tmp_path: Path) -> None:
    data = bytearray(generated.path.read_bytes())
    for i in range(len(data) // 3, len(data) // 3 + 64):
        data[i] ^= 0x5A
    corrupt = tmp_path / "corrupt.tar.gz"
    corrupt.write_bytes(bytes(data))

    result = run_cli("--source", corrupt, "--out", tmp_path / "out")

    assert_one_line_error(result, "corrupt.tar.gz")
    assert_no_output(tmp_path / "out")


def test_gzip_with_a_bad_crc_is_reported(run_cli, generated: Generated, tmp_path: Path) -> None:
    # Flip the stored CRC only: the deflate stream still decodes, the trailer does not match.
    data = bytearray(generated.path.read_bytes())
    data[-8] ^= 0xFF
    bad_crc = tmp_path / "badcrc.tar.gz"
    bad_crc.write_bytes(bytes(data))

    result = run_cli("--source", bad_crc, "--out", tmp_path / "out")

    assert_one_line_error(result, "badcrc.tar.gz", "CRC")


def test_file_that_is_not_gzip_is_reported(run_cli, tmp_path: Path) -> None:
    plain = tmp_path / "plain.tar.gz"
    plain.write_text("this is not an archive\n")

    result = run_cli("--source", plain, "--out", tmp_path / "out")

    assert_one_line_error(result, "plain.tar.gz", "not a readable .tar.gz")


def test_tar_without_cifar_members_is_reported(run_cli, tmp_path: Path) -> None:
    archive = write_members(tmp_path / "other.tar.gz", {"photos/readme.txt": b"hello"})

    result = run_cli("--source", archive, "--out", tmp_path / "out")

    assert_one_line_error(
        result, "cifar-100-python/meta", "cifar-100-python/train", "photos/readme.txt"
    )


def test_tar_missing_only_the_test_member_names_it(run_cli, tmp_path: Path) -> None:
    archive = write_members(
        tmp_path / "a.tar.gz",
        {"cifar-100-python/meta": dumps_py2(meta_dict()),
         "cifar-100-python/train": dumps_py2(small_split())},
    )  # fmt: skip

    result = run_cli("--source", archive, "--out", tmp_path / "out")

    assert_one_line_error(result, "lacks cifar-100-python/test ")


def test_pickle_with_forbidden_global_is_refused_without_running_it(run_cli, tmp_path: Path):
    marker = tmp_path / "pwned"
    archive = write_members(
        tmp_path / "evil.tar.gz",
        {"cifar-100-python/meta": pickle.dumps(Malicious(marker), protocol=2),
         "cifar-100-python/train": dumps_py2(small_split()),
         "cifar-100-python/test": dumps_py2(small_split())},
    )  # fmt: skip

    result = run_cli("--source", archive, "--out", tmp_path / "out")

    assert_one_line_error(result, "forbidden global 'posix.system'", "cifar-100-python/meta")
    assert not marker.exists()
    assert_no_output(tmp_path / "out")


def test_numpy_global_outside_the_allow_list_is_refused(run_cli, tmp_path: Path) -> None:
    # numpy.testing's runstring executes its argument: a numpy name is not enough.
    code = "print('ran')"
    gadget = (
        b"\x80\x02cnumpy.testing._private.utils\nrunstring\n"
        + b"X" + len(code).to_bytes(4, "little") + code.encode()
        + b"}\x86R."
    )  # fmt: skip
    archive = write_members(
        tmp_path / "evil.tar.gz",
        {"cifar-100-python/meta": dumps_py2(meta_dict()),
         "cifar-100-python/train": gadget,
         "cifar-100-python/test": dumps_py2(small_split())},
    )  # fmt: skip

    result = run_cli("--source", archive, "--out", tmp_path / "out")

    assert_one_line_error(result, "forbidden global 'numpy.testing._private.utils.runstring'")
    assert "ran" not in result.out


def test_pickle_with_persistent_id_is_refused(run_cli, tmp_path: Path) -> None:
    buffer = io.BytesIO()
    pickler = pickle.Pickler(buffer, protocol=2)
    pickler.persistent_id = lambda obj: "ext" if obj == "x" else None
    pickler.dump({"fine_label_names": ["x"]})
    archive = write_members(
        tmp_path / "a.tar.gz",
        {"cifar-100-python/meta": buffer.getvalue(),
         "cifar-100-python/train": dumps_py2(small_split()),
         "cifar-100-python/test": dumps_py2(small_split())},
    )  # fmt: skip

    result = run_cli("--source", archive, "--out", tmp_path / "out")

    assert_one_line_error(result, "persistent ids")


def test_truncated_pickle_member_is_reported(run_cli, tmp_path: Path) -> None:
    archive = write_members(
        tmp_path / "a.tar.gz",
        {"cifar-100-python/meta": dumps_py2(meta_dict()),
         "cifar-100-python/train": dumps_py2(small_split())[:500],
         "cifar-100-python/test": dumps_py2(small_split())},
    )  # fmt: skip

    result = run_cli("--source", archive, "--out", tmp_path / "out")

    assert_one_line_error(result, "cifar-100-python/train", "cannot read the pickle")


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (np.zeros((4, 3072), np.float32), "uint8 array"),
        (np.zeros((4, 3072), np.int64), "uint8 array"),
        (np.zeros((4, 1024), np.uint8), "3072 values"),
        (np.zeros((4, 32, 32, 3), np.uint8), "uint8 array (N, 3072)"),
        ([[0] * 3072] * 4, "got list"),
    ],
    ids=["float32", "int64", "grayscale-width", "hwc-4d", "list"],
)
def test_data_of_wrong_shape_or_dtype_is_reported(run_cli, tmp_path: Path, data, expected: str):
    archive = write_archive(tmp_path / "a.tar.gz", small_split(data=data), small_split())

    result = run_cli("--source", archive, "--out", tmp_path / "out")

    assert_one_line_error(result, "cifar-100-python/train", expected)


def test_label_list_shorter_than_data_is_reported(run_cli, tmp_path: Path) -> None:
    train = small_split(fine_labels=[BICYCLE, MOTORCYCLE, BICYCLE])
    archive = write_archive(tmp_path / "a.tar.gz", train, small_split())

    result = run_cli("--source", archive, "--out", tmp_path / "out")

    assert_one_line_error(result, "lengths differ", "data has 4 rows, fine_labels 3, filenames 4")


def test_file_name_list_longer_than_data_is_reported(run_cli, tmp_path: Path) -> None:
    test = small_split(filenames=[f"x{i}.png".encode() for i in range(5)])
    archive = write_archive(tmp_path / "a.tar.gz", small_split(), test)

    result = run_cli("--source", archive, "--out", tmp_path / "out")

    assert_one_line_error(result, "cifar-100-python/test", "filenames 5")


def test_label_outside_the_label_names_is_reported(run_cli, tmp_path: Path) -> None:
    train = small_split(fine_labels=[BICYCLE, MOTORCYCLE, 100, BICYCLE])
    archive = write_archive(tmp_path / "a.tar.gz", train, small_split())

    result = run_cli("--source", archive, "--out", tmp_path / "out")

    assert_one_line_error(result, "fine_labels must lie in 0..99")


def test_missing_split_key_is_reported(run_cli, tmp_path: Path) -> None:
    train = small_split()
    del train[b"fine_labels"]
    archive = write_archive(tmp_path / "a.tar.gz", train, small_split())

    result = run_cli("--source", archive, "--out", tmp_path / "out")

    assert_one_line_error(result, "missing key(s) fine_labels")


def test_file_name_that_escapes_the_output_folder_is_refused(run_cli, tmp_path: Path) -> None:
    names = [b"../../escape.png", b"a.png", b"b.png", b"c.png"]
    archive = write_archive(tmp_path / "a.tar.gz", small_split(filenames=names), small_split())

    result = run_cli("--source", archive, "--out", tmp_path / "out" / "x")

    assert_one_line_error(result, "'../../escape.png' is not a plain .png file name")
    assert not (tmp_path / "escape.png").exists()


def test_unknown_label_lists_close_matches(run_cli, generated: Generated, tmp_path: Path):
    result = run_cli(
        "--source", generated.path, "--out", tmp_path / "out", "--labels", "bicycle,motorcyle"
    )

    assert_one_line_error(result, "unknown label 'motorcyle'", "did you mean motorcycle")
    assert_no_output(tmp_path / "out")


def test_unknown_label_without_close_match_says_where_to_look(run_cli, generated, tmp_path):
    result = run_cli(
        "--source", generated.path, "--out", tmp_path / "out", "--labels", "bicycle,zzzz"
    )

    assert_one_line_error(result, "unknown label 'zzzz'", "fine_label_names")


def test_duplicate_label_names_are_reported(run_cli, generated: Generated, tmp_path: Path):
    result = run_cli(
        "--source", generated.path, "--out", tmp_path / "out", "--labels", "bicycle,bicycle"
    )

    assert_one_line_error(result, "more than once: bicycle")


def test_a_single_label_is_reported(run_cli, generated: Generated, tmp_path: Path) -> None:
    result = run_cli("--source", generated.path, "--out", tmp_path / "out", "--labels", "bicycle")

    assert_one_line_error(result, "at least two label names")


def test_empty_label_name_is_reported(run_cli, generated: Generated, tmp_path: Path) -> None:
    result = run_cli(
        "--source", generated.path, "--out", tmp_path / "out", "--labels", "bicycle,,apple"
    )

    assert_one_line_error(result, "empty name")


def test_selection_without_images_in_a_split_is_reported(run_cli, generated, tmp_path: Path):
    # The generated test split holds no whale.
    result = run_cli(
        "--source", generated.path, "--out", tmp_path / "out", "--labels", "bicycle,whale"
    )

    assert_one_line_error(result, "the test split has no images of whale")
    assert_no_output(tmp_path / "out")


def test_selection_of_labels_absent_from_the_archive_is_reported(run_cli, generated, tmp_path):
    result = run_cli(
        "--source", generated.path, "--out", tmp_path / "out", "--labels", "tiger,wolf"
    )

    assert_one_line_error(result, "the train split has no images of tiger, wolf")


def test_output_path_that_is_a_file_is_reported(run_cli, generated: Generated, tmp_path: Path):
    blocker = tmp_path / "file"
    blocker.write_text("x")

    result = run_cli("--source", generated.path, "--out", blocker)

    assert_one_line_error(result, "exists and is not a folder")


def test_output_below_a_file_is_reported(run_cli, generated: Generated, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")

    result = run_cli("--source", generated.path, "--out", blocker / "out")

    assert_one_line_error(result, "cannot create output folder", "is not a folder")


def test_malformed_upload_uri_fails_before_any_output(run_cli, generated, tmp_path: Path):
    result = run_cli(
        "--source", generated.path, "--out", tmp_path / "out", "--upload", "bucket/cifar"
    )

    assert_one_line_error(result, "must look like s3://bucket/prefix")
    assert not (tmp_path / "out").exists()


def test_empty_gzip_is_reported(run_cli, tmp_path: Path) -> None:
    empty = tmp_path / "empty.tar.gz"
    empty.write_bytes(gzip.compress(b""))

    result = run_cli("--source", empty, "--out", tmp_path / "out")

    assert_one_line_error(result, "empty.tar.gz")
