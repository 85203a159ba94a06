"""S3 event notifications delivered after the request, as in AWS.

moto calls `notifications.send_event` inside the PUT, so a slow Lambda would hold the
upload's HTTP response. The replacement queues the event for one delivery thread (which
keeps events in the order the objects were written) and returns at once.
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

from moto.s3 import notifications

LOG = logging.getLogger(__name__)
_queue: queue.Queue[tuple[Any, ...]] = queue.Queue()
_original_send_event = notifications.send_event


def send_event(account_id: str, event_name: Any, bucket: Any, key: Any) -> None:
    if bucket.notification_configuration is None:
        return  # nothing subscribed: skip the queue
    _queue.put((account_id, event_name, bucket, key))


def _deliver_forever() -> None:
    while True:
        item = _queue.get()
        try:
            _original_send_event(*item)
        except Exception:  # delivery failures never reach the uploader, as in AWS
            LOG.exception("S3 notification delivery failed")
        finally:
            _queue.task_done()


def drain(timeout: float = 30.0) -> bool:
    """Wait until every queued notification was delivered (tests, admin API)."""
    done = threading.Event()

    def _join() -> None:
        _queue.join()
        done.set()

    threading.Thread(target=_join, daemon=True).start()
    return done.wait(timeout)


def install() -> None:
    notifications.send_event = send_event
    threading.Thread(target=_deliver_forever, name="s3-notifications", daemon=True).start()
