"""Write a Terraform CLI config that installs providers from a local mirror only.

The machines this project runs on reach no Terraform registry, so `terraform init`
must find hashicorp/aws in a filesystem mirror. This finds the mirror and writes
the config that `TF_CLI_CONFIG_FILE` points at (the Makefile exports it).

    python scripts/terraform_cli_config.py --out build/terraformrc
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterable
from pathlib import Path

PROVIDER_DIR = Path("registry.terraform.io") / "hashicorp" / "aws"
MIRROR_ENV = "TF_PLUGIN_MIRROR"


class MirrorNotFoundError(Exception):
    """No directory holding the hashicorp/aws provider was found."""


def candidate_mirrors(environ: dict[str, str] | None = None) -> list[Path]:
    """The places a provider mirror is looked for, in order of preference."""
    environ = dict(os.environ) if environ is None else environ
    home = Path(environ.get("HOME", str(Path.home())))
    candidates: list[Path] = []
    if environ.get(MIRROR_ENV):
        candidates.append(Path(environ[MIRROR_ENV]))
    candidates += [
        Path("/opt/tf-plugins"),
        home / ".terraform.d" / "plugins",
        home / ".local" / "share" / "terraform" / "plugins",
        Path("/usr/local/share/terraform/plugins"),
        Path("/usr/share/terraform/plugins"),
    ]
    return candidates


def holds_aws_provider(mirror: Path) -> bool:
    """True when `mirror` has at least one packed or unpacked hashicorp/aws version."""
    provider = mirror / PROVIDER_DIR
    if not provider.is_dir():
        return False
    return any(provider.iterdir())


def find_mirror(candidates: Iterable[Path]) -> Path:
    """The first candidate that holds the AWS provider."""
    looked: list[str] = []
    for candidate in candidates:
        looked.append(str(candidate))
        if holds_aws_provider(candidate):
            return candidate.resolve()
    raise MirrorNotFoundError(
        "no Terraform provider mirror with hashicorp/aws found; looked in "
        + ", ".join(looked)
        + f". Set {MIRROR_ENV} to a directory laid out as "
        "registry.terraform.io/hashicorp/aws/<version>/<os>_<arch>/"
    )


def render_config(mirror: Path) -> str:
    """CLI config text: every provider from the mirror, never the network."""
    return (
        "# Written by scripts/terraform_cli_config.py: providers come from the local mirror.\n"
        "provider_installation {\n"
        "  filesystem_mirror {\n"
        f'    path    = "{mirror.as_posix()}"\n'
        '    include = ["registry.terraform.io/*/*"]\n'
        "  }\n"
        "}\n"
    )


REGISTRY_CONFIG = (
    "# Written by scripts/terraform_cli_config.py: no provider mirror on this machine,\n"
    "# so providers come from the registry (needs network).\n"
    "provider_installation {\n  direct {}\n}\n"
)


def write_config(out: Path, text: str) -> None:
    """Write atomically so a failed run never leaves a half-written config."""
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("build/terraformrc"))
    parser.add_argument("--mirror", type=Path, help="use this mirror instead of searching")
    parser.add_argument(
        "--allow-registry",
        action="store_true",
        help="with no mirror, write a config that installs from the registry (needs network)",
    )
    args = parser.parse_args(argv)
    try:
        mirror = find_mirror([args.mirror] if args.mirror else candidate_mirrors())
    except MirrorNotFoundError as error:
        if not args.allow_registry:
            print(f"error: {error}", file=sys.stderr)
            return 1
        write_config(args.out, REGISTRY_CONFIG)
        print(f"wrote {args.out}: no provider mirror found, providers come from the registry")
        return 0
    write_config(args.out, render_config(mirror))
    print(f"wrote {args.out} (provider mirror {mirror})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
