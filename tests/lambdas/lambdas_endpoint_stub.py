"""A stand-in for the SageMaker runtime API: a real HTTP server on 127.0.0.1.

It answers `POST /endpoints/<name>/invocations` as the runtime does, with whatever the
test scripts: probabilities, a body that is not, or the runtime's error responses.
botocore is pointed at it with AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

_PATH = re.compile(r"^/endpoints/([^/]+)/invocations$")


@dataclass
class Reply:
    status: int
    body: bytes
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class Request:
    endpoint: str
    content_type: str | None
    accept: str | None
    body: bytes


def probabilities(values: list[float]) -> Reply:
    return Reply(200, json.dumps(values).encode(), {"Content-Type": "application/json"})


def raw(body: bytes) -> Reply:
    return Reply(200, body, {"Content-Type": "application/json"})


def model_error(original_status: int | None, message: str = "the model failed") -> Reply:
    """What the runtime returns when the container answers with an error status
    (`original_status=None`: a ModelError without OriginalStatusCode, which the API allows)."""
    body = {
        "ErrorCode": "CLIENT_ERROR_FROM_MODEL",
        "Message": f"Received server error ({original_status}) from model: {message}",
        "OriginalStatusCode": original_status,
        "OriginalMessage": message,
        "LogStreamArn": "arn:aws:logs:us-east-1:000000000000:log-group:/aws/sagemaker/Endpoints/x",
    }
    if original_status is None:
        del body["OriginalStatusCode"]
    return _error(424, "ModelError", body)


def service_error(code: str, status: int = 503) -> Reply:
    return _error(status, code, {"message": f"{code} from the stub"})


def _error(status: int, code: str, body: dict) -> Reply:
    headers = {"Content-Type": "application/json", "x-amzn-ErrorType": f"{code}:http://internal"}
    return Reply(status, json.dumps(body).encode(), headers)


class EndpointStub:
    def __init__(self) -> None:
        self.requests: list[Request] = []
        self.reply = probabilities([0.97, 0.03])
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                match = _PATH.match(self.path)
                if match is None:
                    reply = _error(404, "UnknownOperationException", {"message": self.path})
                else:
                    stub.requests.append(
                        Request(
                            match.group(1),
                            self.headers.get("Content-Type"),
                            self.headers.get("Accept"),
                            body,
                        )
                    )
                    reply = stub.reply
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply.body)))
                self.end_headers()
                self.wfile.write(reply.body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> EndpointStub:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def reset(self) -> None:
        self.requests.clear()
        self.reply = probabilities([0.97, 0.03])
