"""Builds one deployable zip per Lambda function listed in functions.json.

    python lambdas/build.py --out build/lambdas [--only NAME ...]

Each zip holds the function's handler.py at its root and the modules from lambdas/
that it imports, found by parsing the imports (transitively), and nothing else. The
zips are reproducible byte for byte: fixed timestamps and permissions, sorted entries,
so Terraform's source_code_hash changes only when the code does.
"""

from __future__ import annotations

import argparse
import ast
import base64
import hashlib
import json
import os
import re
import sys
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

LAMBDAS_DIR = Path(__file__).resolve().parent
FUNCTIONS_JSON = LAMBDAS_DIR / "functions.json"
HANDLER_FILE = "handler.py"
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
ZIP_MODE = 0o100644 << 16  # regular file, rw-r--r--
# What the Lambda Python runtime provides besides the standard library.
RUNTIME_PACKAGES = frozenset({"boto3", "botocore"})
_ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")


class BuildError(Exception):
    """The functions list or a handler's imports cannot be packaged."""


def load_functions(path: Path = FUNCTIONS_JSON) -> dict[str, dict[str, Any]]:
    """functions.json's entries, checked for the fields Terraform and the local cloud read."""
    try:
        functions = json.loads(path.read_text())["functions"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise BuildError(f"{path}: cannot read a 'functions' object ({exc})") from None
    if not isinstance(functions, dict) or not functions:
        raise BuildError(f"{path}: 'functions' must be a non-empty object")
    for name, spec in functions.items():
        check_function(name, spec)
    return functions


def check_function(name: str, spec: Any) -> None:
    where = f"functions.json: {name}"
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", name) or not isinstance(spec, dict):
        raise BuildError(f"{where}: a function is a lower_snake_case name with an object")
    if spec.get("handler") != "handler.lambda_handler":
        raise BuildError(f"{where}: handler must be 'handler.lambda_handler'")
    if not re.fullmatch(r"python3\.\d+", str(spec.get("runtime"))):
        raise BuildError(f"{where}: runtime must be python3.x")
    for field, low, high in (("memory_mb", 128, 10240), ("timeout_s", 1, 900)):
        value = spec.get(field)
        if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
            raise BuildError(f"{where}: {field} must be an integer in [{low}, {high}]")
    environment = spec.get("environment")
    if not isinstance(environment, list) or not all(
        isinstance(v, str) and _ENV_NAME.match(v) for v in environment
    ):
        raise BuildError(f"{where}: environment must be a list of UPPER_CASE variable names")


def imported_names(source: str, module: str, is_package: bool) -> set[str]:
    """Absolute names of everything a module imports, including `from x import y` as x.y
    (y may be a submodule) and relative imports resolved against the module's package."""
    names: set[str] = set()
    package = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(source, filename=module)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".") if package else []
                anchor = parts[: len(parts) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    names.discard("")
    return names


def find_local(name: str, roots: Iterable[Path]) -> tuple[Path, Path] | None:
    """(root, file) for a module or package under one of the roots, else None."""
    relative = Path(*name.split("."))
    for root in roots:
        for candidate in (root / relative / "__init__.py", root / relative.with_suffix(".py")):
            if candidate.is_file():
                return root, candidate
    return None


def handler_closure(function_dir: Path, lambdas_dir: Path = LAMBDAS_DIR) -> dict[str, Path]:
    """Archive name -> source file for the handler and every local module it reaches.

    A local import is looked up first beside the handler, then in lambdas/. Anything
    else must be the standard library or the runtime's boto3: a handler that imports
    a package the runtime lacks (the sagemaker SDK, say) fails the build here rather
    than at its first cold start in AWS.
    """
    handler = function_dir / HANDLER_FILE
    if not handler.is_file():
        raise BuildError(f"{handler} does not exist")
    roots = (function_dir, lambdas_dir)
    files: dict[str, Path] = {HANDLER_FILE: handler}
    pending = [("handler", handler)]
    seen = {"handler"}
    while pending:
        module, path = pending.pop()
        is_package = path.name == "__init__.py"
        for name in sorted(imported_names(path.read_text(), module, is_package)):
            parts = name.split(".")
            # Importing a.b.c runs a/__init__ and a/b/__init__ too.
            for depth in range(1, len(parts) + 1):
                prefix = ".".join(parts[:depth])
                if prefix in seen:
                    continue
                found = find_local(prefix, roots)
                if found is None:
                    if depth == 1:
                        check_external(parts[0], path, handler)
                    break
                seen.add(prefix)
                root, file = found
                files[file.relative_to(root).as_posix()] = file
                pending.append((prefix, file))
    return files


def check_external(top: str, importer: Path, handler: Path) -> None:
    """`importer` (the handler or any helper it reaches) may import only what the runtime has."""
    if top not in sys.stdlib_module_names and top not in RUNTIME_PACKAGES:
        via = "" if importer == handler else f" (reached from {handler})"
        raise BuildError(
            f"{importer}{via} imports {top!r}, which is neither the standard library, the "
            "Lambda runtime's boto3, nor a module in lambdas/"
        )


def write_zip(files: dict[str, Path], destination: Path) -> None:
    """Writes the zip atomically: a failed build never leaves a half-written artifact."""
    destination.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=destination.parent, suffix=".zip.tmp")
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w") as archive:
            for name in sorted(files):
                info = zipfile.ZipInfo(name, date_time=ZIP_DATE)
                info.external_attr = ZIP_MODE
                info.create_system = 3  # unix, whatever OS builds it
                info.compress_type = zipfile.ZIP_DEFLATED
                archive.writestr(info, files[name].read_bytes(), compresslevel=9)
        os.replace(tmp, destination)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def source_code_hash(path: Path) -> str:
    """What Terraform's filebase64sha256() gives for the zip."""
    return base64.b64encode(hashlib.sha256(path.read_bytes()).digest()).decode("ascii")


def build(
    out: Path, only: Iterable[str] = (), functions_json: Path = FUNCTIONS_JSON
) -> dict[str, Path]:
    """Builds the zips; returns function name -> zip path."""
    functions = load_functions(functions_json)
    selected = list(only) or sorted(functions)
    unknown = sorted(set(selected) - set(functions))
    if unknown:
        raise BuildError(f"not in functions.json: {', '.join(unknown)}")
    lambdas_dir = functions_json.parent
    built = {}
    for name in selected:
        files = handler_closure(lambdas_dir / name, lambdas_dir)
        built[name] = out / f"{name}.zip"
        write_zip(files, built[name])
    return built


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True, help="directory for <name>.zip")
    parser.add_argument("--only", nargs="+", default=[], help="build only these functions")
    parser.add_argument("--functions", type=Path, default=FUNCTIONS_JSON, help="functions.json")
    args = parser.parse_args(argv)
    try:
        built = build(args.out, args.only, args.functions)
    except (BuildError, SyntaxError, OSError) as exc:
        print(f"build.py: error: {exc}", file=sys.stderr)
        return 2
    for path in built.values():
        with zipfile.ZipFile(path) as archive:
            entries = archive.namelist()
        print(
            f"{path}  {path.stat().st_size:>6} bytes  {len(entries)} files  "
            f"sha256(b64)={source_code_hash(path)}"
        )
    print(f"built {len(built)} Lambda zip(s) in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
