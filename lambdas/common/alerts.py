"""Alerts to the SNS topic for errors the state machines cannot be expected to handle."""

from __future__ import annotations

import json
import logging
from typing import Any

from common.aws import client
from common.events import input_reference

log = logging.getLogger(__name__)

_MAX_MESSAGE_CHARS = 2000


def alert_message(source: str, error: BaseException, request_id: str | None, event: Any) -> str:
    """The alert's JSON body: who failed, how, on what (never the image bytes)."""
    return json.dumps(
        {
            "source": source,
            "error_type": type(error).__name__,
            "message": str(error)[:_MAX_MESSAGE_CHARS],
            "request_id": request_id,
            "input": input_reference(event),
        }
    )


def publish_alert(
    topic_arn: str, source: str, error: BaseException, request_id: str | None, event: Any
) -> bool:
    """Publishes one alert; returns whether it was sent.

    A standard topic, no deduplication id: every failure is its own alert. A failure to
    publish is logged and swallowed so that it never replaces the error being reported.
    """
    try:
        client("sns").publish(
            TopicArn=topic_arn,
            Subject=f"{source}: {type(error).__name__}"[:100],
            Message=alert_message(source, error, request_id, event),
        )
    except Exception:
        log.exception("could not publish the alert", extra={"fields": {"topic_arn": topic_arn}})
        return False
    return True
