"""Where a deployment is: Terraform's outputs and AWS clients for a target (local | aws)."""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from typing import Any

from deployment.outputs import terraform_outputs

from . import DEFAULT_PORT
from .cli import client as local_client
from .cli import health

REQUIRED_OUTPUTS = ("data_bucket", "single_image_state_machine_arn", "batch_state_machine_arn")


class DeploymentError(Exception):
    """The target has no usable deployment; the message says what to run."""


def read_outputs(target: str) -> dict[str, Any]:
    """Terraform's outputs for the target; a DeploymentError saying what to run if absent."""
    if shutil.which("terraform") is None:
        raise DeploymentError("terraform is not on PATH")
    outputs = terraform_outputs(target)
    missing = [name for name in REQUIRED_OUTPUTS if name not in outputs]
    if missing:
        raise DeploymentError(
            f"no deployment in the Terraform workspace for TARGET={target} "
            f"(missing outputs: {', '.join(missing)}); run `make apply TARGET={target}` first"
        )
    return outputs


@dataclass(frozen=True)
class Target:
    """A target's clients: the local cloud's URL and dummy credentials, or AWS's chain."""

    name: str
    port: int = DEFAULT_PORT

    def check_reachable(self) -> None:
        if self.name == "local" and health(self.port) is None:
            raise DeploymentError(
                f"the local cloud is not running on port {self.port}; start it with "
                "`make local-up` (or `python -m localcloud up`)"
            )

    def client(self, service: str, region: str | None = None) -> Any:
        import boto3

        if self.name != "local":
            return boto3.client(service, region_name=region)
        return local_client(self.port, service, region)
