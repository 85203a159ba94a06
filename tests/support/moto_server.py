"""A moto server on a free port, with clients from deployment.Target and the seeding the
Lambda suites and benchmarks share (buckets, an alert topic, a batch state machine)."""

from __future__ import annotations

import json
from typing import Any

from moto.server import ThreadedMotoServer

from deployment.target import Target, local_environment
from tests.support.network import free_port


class MotoServer:
    """A running moto server; stop() ends it."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)
        self._server.start()

    def client(self, service: str, **kwargs: Any) -> Any:
        return Target("local", self.port).client(service, **kwargs)

    def environment(self) -> dict[str, str]:
        """AWS_ENDPOINT_URL and test credentials for a subprocess that uses this server."""
        return local_environment(self.port)

    def seed_workflow(self, buckets: list[str], topic: str, machine: str) -> tuple[str, str]:
        """Buckets, an SNS topic and a one-state machine: (topic ARN, state machine ARN)."""
        s3 = self.client("s3")
        for bucket in buckets:
            s3.create_bucket(Bucket=bucket)
        topic_arn = self.client("sns").create_topic(Name=topic)["TopicArn"]
        definition = {"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}}
        machine_arn = self.client("stepfunctions").create_state_machine(
            name=machine,
            definition=json.dumps(definition),
            roleArn=f"arn:aws:iam::{'1' * 12}:role/{machine}",
        )["stateMachineArn"]
        return topic_arn, machine_arn

    def stop(self) -> None:
        self._server.stop()
