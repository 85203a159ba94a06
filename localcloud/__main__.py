"""`python -m localcloud up|down|status|serve [--port N]`: run the local cloud.

up      start in the background, wait until it answers, print how to use it
down    stop it and every worker subprocess it started (its state goes with it)
status  is it running, and what is deployed to it
serve   run in the foreground (Ctrl-C stops it)
"""

from __future__ import annotations

import argparse
import os
import sys

from . import DEFAULT_PORT, cli


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m localcloud", description=__doc__.split("\n")[0]
    )
    parser.add_argument("command", choices=["up", "down", "status", "serve"])
    parser.add_argument("--port", type=int, default=DEFAULT_PORT, help="default %(default)s")
    parser.add_argument(
        "--keep-terraform-state",
        action="store_true",
        help="up: leave the `local` Terraform workspace state alone (it describes a cloud "
        "that no longer exists after a restart)",
    )
    parser.add_argument(
        "--iam",
        choices=["on", "off"],
        default=os.environ.get("LOCALCLOUD_IAM", "on"),
        help="up/serve: enforce the deployment's IAM for the workload's roles (default on); "
        "off accepts every call, for debugging",
    )
    args = parser.parse_args(argv)
    if not 1 <= args.port <= 65535:
        parser.error(f"--port must be in 1..65535, got {args.port}")
    try:
        if args.command == "up":
            return cli.up(
                args.port,
                reset_terraform_state=not args.keep_terraform_state,
                iam=args.iam == "on",
            )
        if args.command == "down":
            return cli.down(args.port)
        if args.command == "status":
            return cli.status(args.port)
        return cli.serve(args.port, iam=args.iam == "on")
    except cli.LocalCloudError as exc:
        print(f"localcloud: {exc}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
