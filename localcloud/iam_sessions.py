"""The workload's identities: temporary credentials of a role, issued by this cloud's STS.

AWS's services act for the workload with the role they were given: Lambda runs the
function with credentials from AssumeRole on its execution role (session name = the
function name, "Lambda execution role", Lambda developer guide), Step Functions calls
its integrations with the state machine's role. Here the same AssumeRole runs on moto's
STS backend in-process, so a request signed with those keys is the role's
(`arn:aws:sts::<account>:assumed-role/<role>/<session>`), and any other key (the
client's `test`) is nobody's: the deploying user, not enforced.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from moto.sts.models import sts_backends
from moto.utilities.utils import get_partition

# AWS caps a role session at the role's MaxSessionDuration (1 h by default); the local
# cloud does not check expiry, so one session per role and session name is reused.
SESSION_SECONDS = 3600


@dataclass(frozen=True)
class Session:
    """An assumed-role session: who signs a workload request."""

    role_arn: str
    session_name: str
    access_key_id: str
    secret_access_key: str
    session_token: str

    @property
    def account_id(self) -> str:
        return self.role_arn.split(":")[4]

    @property
    def partition(self) -> str:
        return self.role_arn.split(":")[1]

    @property
    def role_name(self) -> str:
        return self.role_arn.rsplit("/", 1)[-1]

    @property
    def arn(self) -> str:
        """The principal as AWS names it in an AccessDenied message."""
        return (
            f"arn:{self.partition}:sts::{self.account_id}:assumed-role/"
            f"{self.role_name}/{self.session_name}"
        )

    def environment(self) -> dict[str, str]:
        """The variables the Lambda runtime gives a function for its role."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_SESSION_TOKEN": self.session_token,
        }


_lock = threading.Lock()
_by_role: dict[tuple[str, str], Session] = {}
_by_key: dict[str, Session] = {}


def assume_role(role_arn: str, session_name: str, region: str) -> Session:
    """A session of `role_arn` (one per role and session name, reused while this runs)."""
    if not role_arn.startswith("arn:") or ":role/" not in role_arn:
        raise ValueError(f"not an IAM role ARN: {role_arn!r}")
    with _lock:
        session = _by_role.get((role_arn, session_name))
        if session is not None:
            return session
        account = role_arn.split(":")[4]
        assumed = sts_backends[account][get_partition(region)].assume_role(
            region_name=region,
            role_session_name=session_name[:64],
            role_arn=role_arn,
            policy="",
            duration=SESSION_SECONDS,
            external_id="",
        )
        session = Session(
            role_arn=role_arn,
            session_name=session_name[:64],
            access_key_id=assumed.access_key_id,
            secret_access_key=assumed.secret_access_key,
            session_token=assumed.session_token,
        )
        _by_role[(role_arn, session_name)] = session
        _by_key[session.access_key_id] = session
        return session


def session_for(access_key_id: str) -> Session | None:
    """The assumed-role session a request's access key belongs to, or None (a client).

    Sessions a client assumed itself through STS count too: their requests are a
    role's, as in AWS."""
    session = _by_key.get(access_key_id)
    if session is None and access_key_id.startswith("ASIA"):  # temporary keys only
        for account in list(sts_backends):
            for partition_backend in list(sts_backends[account].values()):
                assumed = partition_backend.get_assumed_role_from_access_key(access_key_id)
                if assumed is not None:
                    session = Session(
                        role_arn=assumed.role_arn,
                        session_name=assumed.session_name,
                        access_key_id=assumed.access_key_id,
                        secret_access_key=assumed.secret_access_key,
                        session_token=assumed.session_token,
                    )
                    break
    return session
