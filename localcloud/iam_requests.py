"""What a request to this cloud asks IAM for: action, resource, condition keys, and the
resource's own policy.

moto names the action `<signing name>:<operation>` and knows the resource only for S3
(`arn:aws:s3:::bucket[/key]`), SQS queues and IAM/STS; any other call is judged against
`*`, which a policy scoped to ARNs never allows. The calls this project's roles make
get their resource from the request here, as the Service Authorization Reference
defines it for the action, plus the implicit actions AWS also checks (tagging on
create; KMS for an encrypted bucket or topic).
"""

from __future__ import annotations

import json
from typing import Any, ClassVar
from urllib.parse import unquote

from moto.awslambda.models import lambda_backends
from moto.kms.models import kms_backends
from moto.s3.models import s3_backends
from moto.sagemaker.models import sagemaker_backends
from moto.sns.models import sns_backends
from moto.sqs.models import sqs_backends

from .iam_policies import Request
from .iam_sessions import Session


class _Transport:
    """Roles whose requests count as not TLS (`aws:SecureTransport` false). Every AWS
    endpoint is TLS, so none by default; a test names a role to see a TLS-only bucket
    policy deny it."""

    insecure_roles: ClassVar[set[str]] = set()


def set_secure_transport(role_name: str, secure: bool) -> None:
    if secure:
        _Transport.insecure_roles.discard(role_name)
    else:
        _Transport.insecure_roles.add(role_name)


# API operation -> IAM action where they differ (Service Authorization Reference).
ACTION_NAMES = {
    "lambda:Invoke": "lambda:InvokeFunction",
    "lambda:InvokeAsync": "lambda:InvokeFunction",
    "s3:HeadBucket": "s3:ListBucket",
}


def _json_body(response: Any) -> dict[str, Any]:
    try:
        body = json.loads(response.body or b"{}")
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _param(response: Any, name: str) -> str | None:
    values = response.querystring.get(name)
    if values:
        return values[0] if isinstance(values, list) else values
    value = _json_body(response).get(name)
    return value if isinstance(value, str) else None


def _key(session: Session, region: str, key_id: str | None) -> tuple[str, str] | None:
    """(ARN, key policy) of a KMS key given as an id, alias or ARN; None when it is not
    found here or is AWS-owned (no key policy of the account's to check)."""
    if not key_id or key_id in ("alias/aws/s3", "alias/aws/sns"):
        return None
    try:
        key = kms_backends[session.account_id][region].describe_key(key_id)
    except Exception:  # an unknown key is the service's error, not IAM's
        return None
    return key.arn, key.policy


def _kms(
    session: Session, region: str, actions: list[str], key_id: str | None, via: str
) -> list[Request]:
    """The key use a service makes for the caller: the role's policy must allow it and
    the key policy must not deny it (kms:ViaService = the service's endpoint)."""
    key = _key(session, region, key_id)
    if key is None:
        return []
    arn, policy = key
    context = {"kms:ViaService": f"{via}.{region}.amazonaws.com"}
    return [Request(action, arn, context, policy) for action in actions]


def s3_requests(
    session: Session, region: str, action: str, resource: str, prefix: str | None = None
) -> list[Request]:
    """An S3 action on `arn:aws:s3:::bucket[/key]`: the bucket policy and, for an object
    in an SSE-KMS bucket, the key use S3 makes for the caller."""
    bucket_name = resource.split(":::", 1)[-1].split("/", 1)[0]
    secure = session.role_name not in _Transport.insecure_roles
    context = {"aws:SecureTransport": "true" if secure else "false"}
    if action == "s3:ListBucket":
        context["s3:prefix"] = prefix or ""
    bucket = s3_backends[session.account_id][session.partition].buckets.get(bucket_name)
    policy = bucket.policy.decode() if bucket is not None and bucket.policy else None
    needed = [Request(action, resource, context, policy)]
    # SSE-KMS: reading needs kms:Decrypt, writing kms:GenerateDataKey on the bucket's key
    # ("Using server-side encryption with AWS KMS keys", S3 User Guide).
    kms_action = {"s3:GetObject": "kms:Decrypt", "s3:PutObject": "kms:GenerateDataKey"}.get(action)
    if kms_action and bucket is not None and bucket.encryption:
        rule = bucket.encryption.get("Rule", {})
        rule = rule[0] if isinstance(rule, list) else rule
        default = rule.get("ApplyServerSideEncryptionByDefault", {})
        if default.get("SSEAlgorithm") == "aws:kms":
            needed += _kms(session, region, [kms_action], default.get("KMSMasterKeyID"), "s3")
    return needed


def _s3(response: Any, session: Session, action: str, resource: str) -> list[Request]:
    prefix = response.querystring.get("prefix")
    prefix = prefix[0] if isinstance(prefix, list) else prefix
    return s3_requests(session, response.region, action, resource, prefix)


def _sns(response: Any, session: Session, action: str) -> list[Request]:
    topic_arn = _param(response, "TopicArn") or _param(response, "TargetArn") or "*"
    topic = sns_backends[session.account_id][response.region].topics.get(topic_arn)
    needed = [Request(action, topic_arn, {}, topic.policy if topic is not None else None)]
    # An encrypted topic: publishers need both ("Encryption at rest", SNS Developer Guide).
    if action == "sns:Publish" and topic is not None and topic.kms_master_key_id:
        actions = ["kms:GenerateDataKey", "kms:Decrypt"]
        needed += _kms(session, response.region, actions, topic.kms_master_key_id, "sns")
    return needed


def _sqs(response: Any, session: Session, action: str, resource: str) -> list[Request]:
    queue_name = resource.rsplit(":", 1)[-1]
    queue = sqs_backends[session.account_id][response.region].queues.get(queue_name)
    policy = getattr(queue, "policy", None) if queue is not None else None
    return [Request(action, resource, {}, policy or None)]


def _lambda(response: Any, session: Session, action: str) -> list[Request]:
    parts = unquote(response.path).split("/")
    if "functions" not in parts or len(parts) <= parts.index("functions") + 1:
        return [Request(action, "*")]
    name = parts[parts.index("functions") + 1]
    qualifier = _param(response, "Qualifier")
    backend = lambda_backends[session.account_id][response.region]
    try:
        function = backend.get_function(name, qualifier)
    except Exception:  # a missing function is Lambda's 404, not IAM's
        return [Request(action, "*")]
    arn = (
        f"arn:{session.partition}:lambda:{response.region}:{session.account_id}"
        f":function:{function.function_name}"
    )
    arn = f"{arn}:{qualifier}" if qualifier else arn
    statements = function.policy.statements
    policy = json.dumps({"Version": "2012-10-17", "Statement": statements}) if statements else None
    return [Request(action, arn, {}, policy)]


def _sagemaker(response: Any, session: Session, action: str) -> list[Request]:
    prefix = f"arn:{session.partition}:sagemaker:{response.region}:{session.account_id}"
    if action == "sagemaker:InvokeEndpoint":
        name = unquote(response.path).rstrip("/").split("/")[-2]
        endpoint = sagemaker_backends[session.account_id][response.region].endpoints.get(name)
        arn = endpoint.arn if endpoint is not None else f"{prefix}:endpoint/{name.lower()}"
        return [Request(action, arn)]
    body = _json_body(response)
    if action in ("sagemaker:CreateTransformJob", "sagemaker:DescribeTransformJob"):
        arn = f"{prefix}:transform-job/{str(body.get('TransformJobName', '')).lower()}"
        needed = [Request(action, arn)]
        if action == "sagemaker:CreateTransformJob" and body.get("Tags"):
            # Tags given on create also need sagemaker:AddTags (Service Authorization
            # Reference, "Actions defined by Amazon SageMaker": dependent actions).
            needed.append(Request("sagemaker:AddTags", arn))
        return needed
    return [Request(action, "*")]


def _states(response: Any, action: str) -> list[Request]:
    body = _json_body(response)
    arn = body.get("stateMachineArn") or body.get("executionArn") or "*"
    return [Request(action, str(arn))]


def requests_for(response: Any, session: Session, service: str, resource: str) -> list[Request]:
    """Everything IAM checks for this request, in the order AWS would name a denial."""
    operation = response._get_action()
    operation = operation[0] if isinstance(operation, list) else operation
    action = f"{service}:{operation}"
    action = ACTION_NAMES.get(action, action)
    if service == "s3":
        return _s3(response, session, action, resource)
    if service == "sns":
        return _sns(response, session, action)
    if service == "sqs":
        return _sqs(response, session, action, resource)
    if service == "lambda":
        return _lambda(response, session, action)
    if service == "sagemaker":
        return _sagemaker(response, session, action)
    if service == "states":
        return _states(response, action)
    return [Request(action, resource)]
