# One customer managed key for the deployment's data at rest: both buckets, the alert
# topic, the log groups, the endpoint's volume and its captured inferences. A CMK
# (rather than SSE-S3) means reading any of it takes a KMS grant as well as an S3 or
# SNS one, access shows up in CloudTrail per key, and the key rotates yearly.
resource "aws_kms_key" "main" {
  description             = "${var.project_name}: data at rest (buckets, alerts, logs, endpoint)"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms_key.json
}

resource "aws_kms_alias" "main" {
  name          = "alias/${var.project_name}"
  target_key_id = aws_kms_key.main.key_id
}

data "aws_iam_policy_document" "kms_key" {
  # A key policy's "*" resource is the key itself, and its owner must be able to manage it.
  #checkov:skip=CKV_AWS_109:key policy: the account administers its own key; "*" means this key
  #checkov:skip=CKV_AWS_111:key policy: the account administers its own key; "*" means this key
  #checkov:skip=CKV_AWS_356:key policy: "*" as resource means this key only
  # Without this statement IAM policies cannot grant use of the key at all.
  statement {
    sid = "AccountAdministersKey"
    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
    actions = [
      "kms:CancelKeyDeletion",
      "kms:CreateAlias",
      "kms:CreateGrant",
      "kms:Decrypt",
      "kms:DeleteAlias",
      "kms:DescribeKey",
      "kms:DisableKey",
      "kms:DisableKeyRotation",
      "kms:EnableKey",
      "kms:EnableKeyRotation",
      "kms:Encrypt",
      "kms:GenerateDataKey",
      "kms:GenerateDataKeyWithoutPlaintext",
      "kms:GetKeyPolicy",
      "kms:GetKeyRotationStatus",
      "kms:ListAliases",
      "kms:ListGrants",
      "kms:ListKeyPolicies",
      "kms:ListResourceTags",
      "kms:PutKeyPolicy",
      "kms:ReEncryptFrom",
      "kms:ReEncryptTo",
      "kms:RetireGrant",
      "kms:RevokeGrant",
      "kms:ScheduleKeyDeletion",
      "kms:TagResource",
      "kms:UntagResource",
      "kms:UpdateAlias",
      "kms:UpdateKeyDescription",
    ]
    # In a key policy "*" is this key and nothing else.
    resources = ["*"]
  }

  statement {
    sid = "LogsEncryptProjectLogGroups"
    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }
    actions = [
      "kms:Decrypt",
      "kms:DescribeKey",
      "kms:Encrypt",
      "kms:GenerateDataKey",
      "kms:ReEncryptFrom",
      "kms:ReEncryptTo",
    ]
    resources = ["*"]
    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = ["arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:*"]
    }
  }

  # CloudWatch alarms publish to the encrypted alert topic. A source condition is allowed
  # here (knowledge center "cloudwatch-configure-alarm-sns" shows it as optional hardening).
  statement {
    sid = "AlarmsPublishToEncryptedTopic"
    principals {
      type        = "Service"
      identifiers = ["cloudwatch.amazonaws.com"]
    }
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["*"]
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }

  # The execution-failure rule publishes to the encrypted alert topic. No Condition: the
  # SNS developer guide ("Key management", Enable compatibility between event sources from
  # AWS services and encrypted topics) says aws:SourceAccount/aws:SourceArn in a KMS key
  # policy are not supported for EventBridge-to-encrypted topics; with one, every alert is
  # silently dropped. Only the two actions SNS needs to encrypt the message.
  statement {
    sid = "ExecutionFailureRulePublishesToEncryptedTopic"
    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["*"]
  }
}
