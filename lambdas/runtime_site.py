"""A directory that holds what the Lambda Python runtime provides: boto3 and its dependencies.

    python lambdas/runtime_site.py --out build/lambda-runtime

With `python -I -S` and only a function's zip plus this directory on sys.path, a
handler sees what it would see in AWS: the standard library and boto3. Tests and the
benchmark use it to prove each zip is complete; the entries are symlinks into the
current environment, so building it is instant.
"""

from __future__ import annotations

import argparse
import re
import sys
from importlib import metadata
from pathlib import Path

RUNTIME_DISTRIBUTIONS = ("boto3",)


def closure(names: tuple[str, ...]) -> list[metadata.Distribution]:
    """The installed distributions `names` need, without optional extras."""
    found: dict[str, metadata.Distribution] = {}
    pending = list(names)
    while pending:
        name = pending.pop()
        key = re.sub(r"[-_.]+", "-", name).lower()
        if key in found:
            continue
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            # Requirements behind markers for other Python versions are not installed.
            continue
        found[key] = dist
        for requirement in dist.requires or []:
            if "extra ==" in requirement:
                continue
            match = re.match(r"[A-Za-z0-9._-]+", requirement)
            if match:
                pending.append(match.group(0))
    return sorted(found.values(), key=lambda d: d.metadata["Name"].lower())


def top_level_paths(dist: metadata.Distribution) -> set[Path]:
    """The importable packages and modules a distribution installed."""
    paths = set()
    for file in dist.files or []:
        first = file.parts[0]
        if (
            first == ".."
            or first.endswith((".dist-info", ".egg-info", ".pth"))
            or first == "__pycache__"
        ):
            continue
        paths.add(Path(dist.locate_file(first)))
    return paths


def build_runtime_site(out: Path, names: tuple[str, ...] = RUNTIME_DISTRIBUTIONS) -> Path:
    """Fills `out` with symlinks to the packages of `names` and their dependencies."""
    out.mkdir(parents=True, exist_ok=True)
    for dist in closure(names):
        for source in top_level_paths(dist):
            link = out / source.name
            if not link.exists():
                link.symlink_to(source, target_is_directory=source.is_dir())
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    out = build_runtime_site(args.out)
    print(f"{len(list(out.iterdir()))} runtime packages linked in {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
