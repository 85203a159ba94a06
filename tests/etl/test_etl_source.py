"""Downloads against a real HTTP server on the loopback: cache, resume, checksum, errors."""

from __future__ import annotations

import hashlib
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from etl.errors import ChecksumMismatchError, DownloadError, SourceNotFoundError
from etl.source import OFFICIAL_URL, cache_name, fetch, resolve_source
from tests.etl.etl_helpers import Generated, assert_one_line_error
from tests.support.network import free_port

REPO = Path(__file__).resolve().parents[2]


@dataclass
class Server:
    """Serves `payload` at /cifar.tar.gz; the first `cuts` responses stop after `cut_at` bytes."""

    payload: bytes = b""
    cuts: int = 0
    cut_at: int = 0
    honour_range: bool = True
    requests: list[str | None] = field(default_factory=list)  # the Range header of each GET
    url: str = ""

    def url_for(self, path: str) -> str:
        return self.url.rsplit("/", 1)[0] + path


def handler_for(server: Server) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:  # keep the test output clean
            pass

        def do_GET(self) -> None:
            server.requests.append(self.headers.get("Range"))
            if self.path != "/cifar.tar.gz":
                self.send_error(404, "Not Found")
                return
            start = 0
            match = re.fullmatch(r"bytes=(\d+)-", self.headers.get("Range") or "")
            if match and server.honour_range:
                start = int(match.group(1))
                if start >= len(server.payload):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(server.payload)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                end = len(server.payload) - 1
                self.send_header("Content-Range", f"bytes {start}-{end}/{len(server.payload)}")
            else:
                self.send_response(200)
            body = server.payload[start:]
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if server.cuts > 0:
                server.cuts -= 1
                self.wfile.write(body[: max(server.cut_at - start, 0)])
                self.wfile.flush()
                self.close_connection = True
                return
            self.wfile.write(body)

    return Handler


@pytest.fixture
def server(generated: Generated) -> Iterator[Server]:
    state = Server(payload=generated.path.read_bytes())
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler_for(state))
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}/cifar.tar.gz"
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield state
    httpd.shutdown()
    httpd.server_close()


def test_download_lands_in_the_cache_with_the_served_bytes(server: Server, tmp_path: Path):
    path = fetch(server.url, tmp_path / "cache", progress=False)

    assert path.parent == tmp_path / "cache"
    assert path.read_bytes() == server.payload
    assert not list((tmp_path / "cache").glob("*.part"))


def test_second_fetch_uses_the_cache_without_a_request(server: Server, tmp_path: Path) -> None:
    fetch(server.url, tmp_path / "cache", progress=False)

    fetch(server.url, tmp_path / "cache", progress=False)

    assert len(server.requests) == 1


def test_interrupted_download_resumes_with_a_range_request(server: Server, tmp_path: Path):
    server.cuts, server.cut_at = 1, len(server.payload) // 3

    path = fetch(server.url, tmp_path / "cache", progress=False)

    assert server.requests == [None, f"bytes={len(server.payload) // 3}-"]
    assert path.read_bytes() == server.payload


def test_partial_file_from_an_earlier_run_is_resumed(server: Server, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    half = len(server.payload) // 2
    (cache / (cache_name(server.url) + ".part")).write_bytes(server.payload[:half])

    path = fetch(server.url, cache, progress=False)

    assert server.requests == [f"bytes={half}-"]
    assert path.read_bytes() == server.payload


def test_complete_partial_file_is_accepted_on_416(server: Server, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / (cache_name(server.url) + ".part")).write_bytes(server.payload)

    path = fetch(server.url, cache, progress=False)

    assert path.read_bytes() == server.payload
    assert server.requests == [f"bytes={len(server.payload)}-"]


def test_server_ignoring_range_restarts_from_the_beginning(server: Server, tmp_path: Path):
    server.honour_range = False
    server.cuts, server.cut_at = 1, 1000

    path = fetch(server.url, tmp_path / "cache", progress=False)

    assert path.read_bytes() == server.payload
    assert len(server.requests) == 2


def test_download_that_keeps_failing_is_reported_and_keeps_its_part(server, tmp_path: Path):
    server.cuts, server.cut_at = 10, 1000

    with pytest.raises(DownloadError, match="interrupted 3 times; run again to resume"):
        fetch(server.url, tmp_path / "cache", progress=False)

    part = tmp_path / "cache" / (cache_name(server.url) + ".part")
    assert part.read_bytes() == server.payload[:1000]


def test_checksum_mismatch_discards_the_download(server: Server, tmp_path: Path) -> None:
    with pytest.raises(ChecksumMismatchError, match=r"expected 0{32}"):
        fetch(server.url, tmp_path / "cache", expected_md5="0" * 32, progress=False)

    assert not list((tmp_path / "cache").iterdir())


def test_matching_checksum_is_accepted(server: Server, tmp_path: Path) -> None:
    md5 = hashlib.md5(server.payload).hexdigest()

    path = fetch(server.url, tmp_path / "cache", expected_md5=md5, progress=False)

    assert path.read_bytes() == server.payload


def test_cached_file_with_wrong_checksum_is_downloaded_again(server: Server, tmp_path: Path):
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / cache_name(server.url)).write_bytes(b"stale")
    md5 = hashlib.md5(server.payload).hexdigest()

    path = fetch(server.url, cache, expected_md5=md5, progress=False)

    assert path.read_bytes() == server.payload
    assert len(server.requests) == 1


def test_http_error_is_reported(server: Server, tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="HTTP 404"):
        fetch(server.url_for("/missing.tar.gz"), tmp_path / "cache", progress=False)


def test_unreachable_server_is_reported(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="cannot download"):
        fetch("http://127.0.0.1:9/cifar.tar.gz", tmp_path / "cache", progress=False, timeout=5)


def test_cached_official_archive_without_the_published_md5_is_not_used(tmp_path: Path):
    """The official URL's download is checked against its published MD5: a cached copy
    that does not match is dropped and fetched again (here through a proxy that refuses,
    so nothing leaves this machine); the same bytes cached for another URL are used."""
    cache = tmp_path / "cache"
    cache.mkdir()
    stale = cache / "cifar-100-python.tar.gz"
    stale.write_bytes(b"not the official archive")
    other_url = "https://example.org/cifar-100-python.tar.gz"
    (cache / cache_name(other_url)).write_bytes(b"not the official archive")
    refused = f"http://127.0.0.1:{free_port()}"
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("no_proxy", "https_proxy")}
    env |= {"https_proxy": refused, "HTTPS_PROXY": refused}

    ran = subprocess.run(
        [sys.executable, "-m", "etl", "--quiet", "--source", OFFICIAL_URL,
         "--cache-dir", str(cache), "--out", str(tmp_path / "out")],
        cwd=REPO, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip

    assert ran.returncode != 0
    assert "cannot download" in ran.stderr, ran.stderr
    assert not stale.exists()
    assert resolve_source(other_url, cache, progress=False) == cache / cache_name(other_url)


def test_missing_local_source_is_reported(tmp_path: Path) -> None:
    with pytest.raises(SourceNotFoundError, match="does not exist"):
        resolve_source(str(tmp_path / "none.tar.gz"))


def test_cli_exports_from_a_url(run_cli, server: Server, tmp_path: Path) -> None:
    result = run_cli(
        "--source", server.url, "--out", tmp_path / "out", "--cache-dir", tmp_path / "c"
    )

    assert result.code == 0, result.err
    assert "train: 11 images (bicycle 6, motorcycle 5)" in result.out
    assert (tmp_path / "out/manifest.json").is_file()


def test_cli_reports_a_failed_download_in_one_line(run_cli, server: Server, tmp_path: Path):
    result = run_cli("--source", server.url_for("/gone.tar.gz"), "--out", tmp_path / "out",
                     "--cache-dir", tmp_path / "c")  # fmt: skip

    assert_one_line_error(result, "HTTP 404")
    assert not (tmp_path / "out").exists()
