"""The local cloud keeps HTTP/1.1 connections alive, and keeps each request's framing.

HTTP/1.1 connections are persistent unless a side says `Connection: close` (RFC 9112,
section 9.3, "Persistence"); botocore's connection pool reuses them. The server used to
close every connection after one request; these tests hold it to reusing them without
one request's body ever being read as the next request.
"""

from __future__ import annotations

import http.client
import json

import pytest

pytestmark = pytest.mark.integration


def connect(local_cloud) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", local_cloud.port, timeout=30)


def get_health(connection: http.client.HTTPConnection) -> http.client.HTTPResponse:
    connection.request("GET", "/_localcloud/health")
    response = connection.getresponse()
    response.read()
    return response


def test_one_connection_serves_many_requests(local_cloud):
    connection = connect(local_cloud)
    first = get_health(connection)
    socket_after_first = connection.sock

    later = [get_health(connection) for _ in range(3)]

    assert first.status == 200 and first.version == 11
    assert all(r.status == 200 for r in later)
    assert first.getheader("Connection") != "close"
    assert connection.sock is socket_after_first  # never reconnected
    connection.close()


def test_a_body_the_server_does_not_read_is_not_taken_for_the_next_request(local_cloud):
    connection = connect(local_cloud)
    smuggled = b"GET /_localcloud/health HTTP/1.1\r\nHost: x\r\n\r\n"
    connection.request("PUT", "/_localcloud/no-such-route", body=smuggled)
    unknown = connection.getresponse()
    unknown.read()

    connection.request("GET", "/_localcloud/health")
    health = connection.getresponse()

    assert unknown.status == 404
    assert health.status == 200 and json.loads(health.read())["status"] == "ready"
    connection.close()


def test_a_client_that_asks_to_close_gets_its_connection_closed(local_cloud):
    connection = connect(local_cloud)
    connection.request("GET", "/_localcloud/health", headers={"Connection": "close"})
    response = connection.getresponse()
    response.read()

    assert response.status == 200
    assert response.getheader("Connection") == "close"
    assert connection.sock is None  # http.client closed it, as the server said it would


def test_boto3_calls_reuse_their_connection(local_cloud):
    s3 = local_cloud.client("s3")
    s3.list_buckets()  # the client's connection is open from here on
    before = local_cloud.admin("health")["connections"]["accepted"]

    for _ in range(10):
        s3.list_buckets()
    after = local_cloud.admin("health")["connections"]["accepted"]

    # The second admin call opens one connection (urllib closes its own); ten boto3
    # calls on a connection each would make it eleven.
    assert after - before == 1
