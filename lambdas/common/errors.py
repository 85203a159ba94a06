"""Errors the handlers raise. Step Functions matches the class names in Retry and Catch.

Errors derived from `ExpectedError` are the contract's named set: the state machines
catch them and alert with the execution id, so handlers do not alert for them.
Everything else (outages, bugs) is alerted by the handler itself before it re-raises.
"""

from __future__ import annotations


class ExpectedError(Exception):
    """A failure the workflow knows how to handle (bad input, low confidence, bad config)."""


class InvalidEventError(ExpectedError):
    """The event does not have the shape the handler's contract requires."""


class ImageNotFoundError(ExpectedError):
    """The image's bucket or key does not exist (or cannot be read)."""


class UnsupportedImageError(ExpectedError):
    """The object is not a complete PNG or JPEG within the size limit."""


class EndpointResponseError(ExpectedError):
    """The endpoint answered, but not with a probability per class."""


class ThresholdNotMetError(ExpectedError):
    """The best class's probability is below the configured threshold."""


class ConfigurationError(ExpectedError):
    """An environment variable is missing or invalid."""


class EndpointUnavailableError(ExpectedError):
    """The endpoint is throttled, overloaded or down: transient, retried by the state machine.

    Named, so no alert per attempt: a retried attempt only logs; the final failure is
    alerted once by the state machine (single image) or recorded with the batch's alert.
    """
