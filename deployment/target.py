"""Where a command runs: the local cloud or AWS. The one client factory for both.

    target = Target("local", port=4566)   # or Target("aws")
    target.check_reachable()              # local: a clear error when nothing answers
    target.client("s3")                   # a boto3 client for that target
    target.outputs()                      # Terraform's outputs for its workspace

local: clients go to http://127.0.0.1:<port> with test credentials (never real ones).
Without an explicit port, the address is AWS_ENDPOINT_URL (the Makefile sets it from
LOCAL_PORT) or else the default port 4566. The region is the caller's, else
AWS_REGION/AWS_DEFAULT_REGION, else Terraform's `region` output (when already read),
else us-east-1.
aws: plain boto3 clients, i.e. the standard credential and region chain.
"""

from __future__ import annotations

import os
import shutil
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from deployment.outputs import WORKSPACES, terraform_outputs

TARGETS = tuple(WORKSPACES)  # ("local", "aws")
LOCAL_HOST = "127.0.0.1"
DEFAULT_LOCAL_PORT = 4566
DEFAULT_LOCAL_REGION = "us-east-1"
LOCAL_CREDENTIALS = {"aws_access_key_id": "test", "aws_secret_access_key": "test"}


class TargetError(Exception):
    """The target cannot be used as asked; the message says what to run or pass."""


def local_url(port: int) -> str:
    return f"http://{LOCAL_HOST}:{port}"


def local_environment(port: int) -> dict[str, str]:
    """All a client (AWS CLI, boto3, Terraform's provider) needs to use the local cloud."""
    return {
        "AWS_ENDPOINT_URL": local_url(port),
        "AWS_ACCESS_KEY_ID": LOCAL_CREDENTIALS["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": LOCAL_CREDENTIALS["aws_secret_access_key"],
        "AWS_DEFAULT_REGION": DEFAULT_LOCAL_REGION,
    }


def _env_region() -> str | None:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or None


@dataclass(frozen=True)
class Target:
    """A deployment target: `local` (the local cloud on a port) or `aws`."""

    name: str
    port: int | None = None
    _outputs: dict = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.name not in TARGETS:
            raise TargetError(f"target must be one of {', '.join(TARGETS)}, got {self.name!r}")
        if self.port is not None and not 0 < self.port < 65536:
            raise TargetError(f"port must be in 1-65535, got {self.port}")

    @property
    def endpoint_url(self) -> str | None:
        """The local cloud's URL; None for aws (boto3's own endpoints)."""
        if self.name != "local":
            return None
        if self.port is not None:
            return local_url(self.port)
        return os.environ.get("AWS_ENDPOINT_URL") or local_url(DEFAULT_LOCAL_PORT)

    def outputs(self, refresh: bool = False) -> dict[str, Any]:
        """Terraform's outputs for this target's workspace, read once unless `refresh`
        (after an apply); {} without Terraform or state."""
        if refresh or "values" not in self._outputs:
            self._outputs["values"] = terraform_outputs(self.name)
        return self._outputs["values"]

    def require_outputs(self, *names: str, refresh: bool = False) -> dict[str, Any]:
        """The outputs, or a TargetError naming the missing ones and what to run."""
        outputs = self.outputs(refresh)
        missing = [name for name in names if not outputs.get(name)]
        if missing and shutil.which("terraform") is None:
            raise TargetError("terraform is not on PATH: install it to read the deployment")
        if missing:
            raise TargetError(
                f"no deployment in the Terraform workspace for TARGET={self.name} "
                f"(missing outputs: {', '.join(missing)}); run `make apply TARGET={self.name}` "
                "first"
            )
        return outputs

    def region(self) -> str | None:
        if self.name != "local":
            return None  # boto3's chain: AWS_REGION, AWS_DEFAULT_REGION, ~/.aws/config
        # Terraform's `region` output only when the outputs were read anyway: a client
        # must not cost a `terraform output` run.
        read = self._outputs.get("values", {})
        return _env_region() or read.get("region") or DEFAULT_LOCAL_REGION

    def client(self, service: str, region: str | None = None, **kwargs: Any) -> Any:
        """A boto3 client for `service` on this target (kwargs go to boto3.client)."""
        import boto3

        if self.name != "local":
            return boto3.client(service, region_name=region or _env_region(), **kwargs)
        return boto3.client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=region or self.region(),
            **LOCAL_CREDENTIALS,
            **kwargs,
        )

    def check_reachable(self, timeout: float = 2.0) -> None:
        """local: something answers HTTP at the address, else a TargetError saying to start
        the local cloud. aws: nothing to check before the first call."""
        url = self.endpoint_url
        if url is None:
            return
        try:
            with urllib.request.urlopen(f"{url}/_localcloud/health", timeout=timeout):  # noqa: S310
                return
        except urllib.error.HTTPError:
            return  # an HTTP answer, even an error status: a server is there
        except (OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise TargetError(
                f"the local cloud does not answer at {url} ({reason}); start it with "
                "`make local-up` (LOCAL_PORT=<port> for another port)"
            ) from None
