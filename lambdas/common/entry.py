"""The wrapper every handler goes through: logging context, config, validation, alerts."""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable
from typing import Any, Protocol, TypeVar

from common.alerts import publish_alert
from common.config import Loaded, alert_topic_arn
from common.errors import ConfigurationError, ExpectedError
from common.events import input_reference, require_object
from common.logs import configure_logging, log_context

log = logging.getLogger("handler")


class HasAlertTopic(Protocol):
    alert_topic_arn: str


C = TypeVar("C", bound=HasAlertTopic)
Work = Callable[[dict[str, Any], C, Any], dict[str, Any]]
LambdaHandler = Callable[[Any, Any], dict[str, Any]]


def request_id(context: Any) -> str | None:
    return getattr(context, "aws_request_id", None)


def entry_point(
    source: str, loaded: Loaded[C], alert_named_errors: bool = False
) -> Callable[[Work[C]], LambdaHandler]:
    """Turns `work(event, config, context)` into the Lambda handler.

    The handler raises the stored ConfigurationError when the cold start found the
    configuration invalid, checks the event is an object, and alerts before re-raising
    any error outside the named set. `alert_named_errors` is for functions that no state
    machine calls (S3 notifications): no Catch would ever alert for their named errors.
    """
    configure_logging()

    def wrap(work: Work[C]) -> LambdaHandler:
        @functools.wraps(work)
        def lambda_handler(event: Any, context: Any) -> dict[str, Any]:
            rid = request_id(context)
            with log_context(source, rid):
                started = time.perf_counter()
                fields = {"input": input_reference(event)}
                log.info("invoked", extra={"fields": fields})
                try:
                    result = work(require_object(event), loaded.get(), context)
                except Exception as exc:
                    expected = isinstance(exc, ExpectedError)
                    if expected:
                        error_fields = {**fields, "error_type": type(exc).__name__}
                        log.warning(str(exc), extra={"fields": error_fields})
                    else:
                        log.exception("unexpected error", extra={"fields": fields})
                    if alert_named_errors or not expected:
                        alert(source, loaded, exc, rid, event)
                    raise
                elapsed_ms = round((time.perf_counter() - started) * 1000, 1)
                log.info("done", extra={"fields": {**fields, "duration_ms": elapsed_ms}})
                return result

        return lambda_handler

    return wrap


def alert(source: str, loaded: Loaded[Any], error: Exception, rid: str | None, event: Any) -> None:
    """Alerts to the configured topic; with an invalid configuration, to ALERT_TOPIC_ARN if
    that variable alone is valid, since the rest of the configuration is what failed."""
    if loaded.value is not None:
        topic = loaded.value.alert_topic_arn
    else:
        try:
            topic = alert_topic_arn(os.environ)
        except ConfigurationError:
            log.error("no valid ALERT_TOPIC_ARN: the alert is not sent")
            return
    publish_alert(topic, source, error, rid, event)
