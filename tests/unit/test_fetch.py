"""Safe fetching of input URLs: the address policy holds before any connection, the connection
goes to the address that was checked, and every failure says what went wrong.

Real traffic goes to a loopback HTTP server only. Where a test needs a "public" host, a resolver
seam names it and an `httpx.MockTransport` plays the server, recording every request it gets.
"""

from __future__ import annotations

import contextlib
import http.server
import ipaddress
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from waiting import wait_until_async

from services.core.settings import Settings
from services.net.addresses import IPAddress, forbidden_reason, literal_ip
from services.net.fetch import FetchError, FetchLimits, ForbiddenAddress, download, fetch_input
from services.storage.links import LocalStorage, signed_url

PNG = b"\x89PNG\r\n\x1a\n" + bytes(200)
WAV = b"RIFF\x24\x00\x00\x00WAVEfmt " + bytes(200)
PUBLIC_IP = "93.184.216.34"  # only ever "reached" through the mock transport


@dataclass
class Served:
    """A loopback HTTP server: path -> handler; it records the requests it answered."""

    routes: dict[str, Callable[[http.server.BaseHTTPRequestHandler], None]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)  # (path, Host header)
    sent: dict[str, int] = field(default_factory=dict)  # body bytes written, per path
    port: int = 0

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    def body(self, path: str, data: bytes, status: int = 200) -> None:
        def answer(h: http.server.BaseHTTPRequestHandler) -> None:
            h.send_response(status)
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
        self.routes[path] = answer

    def redirect(self, path: str, location: str) -> None:
        def answer(h: http.server.BaseHTTPRequestHandler) -> None:
            h.send_response(302)
            h.send_header("Location", location)
            h.send_header("Content-Length", "0")
            h.end_headers()
        self.routes[path] = answer


@pytest.fixture
def served() -> Iterator[Served]:
    state = Served()

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            state.requests.append((self.path, self.headers.get("Host", "")))
            route = state.routes.get(self.path)
            if route is None:
                self.send_error(404)
                return
            # The client may hang up, as it should for an oversize body.
            with contextlib.suppress(BrokenPipeError, ConnectionResetError):
                route(self)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.block_on_close = False
    state.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


def settings_for(tmp_path: Path, allow_private: bool, max_bytes: int = 1 << 20) -> Settings:
    return Settings(data_dir=tmp_path / "data", allow_private_urls=allow_private,
                    max_input_bytes=max_bytes, public_url="http://files.example")


class Recorder:
    """A resolver seam and an `httpx.MockTransport` that record what they were asked."""

    def __init__(self, names: dict[str, list[str]] | None = None,
                 answer: Callable[[httpx.Request], httpx.Response] | None = None) -> None:
        self.names = names or {}
        self.lookups: list[str] = []
        self.requests: list[httpx.Request] = []
        self._answer = answer or (lambda request: httpx.Response(200, content=WAV))
        self.transport = httpx.MockTransport(self._handle)

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        self.lookups.append(host)
        if host not in self.names:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [ipaddress.ip_address(a) for a in self.names[host]]

    def _handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        return self._answer(request)


FORBIDDEN_LITERALS = [
    "http://127.0.0.1/a.wav",
    "http://127.0.0.53:8080/a.wav",
    "http://169.254.169.254/latest/meta-data/",
    "http://[::1]/a.wav",
    "http://[::ffff:127.0.0.1]/a.wav",
    "http://[::ffff:a9fe:a9fe]/",  # 169.254.169.254, mapped into IPv6
    "http://[64:ff9b::a9fe:a9fe]/",  # ... and through NAT64
    "http://[fe80::1]/a.wav",
    "http://[fd00:ec2::254]/latest/",
    "http://0.0.0.0/a.wav",
    "http://[::]/a.wav",
    "http://2130706433/a.wav",  # 127.0.0.1 in decimal
    "http://0x7f.1/a.wav",  # ... in hex, shortened
    "http://10.1.2.3/a.wav",
    "https://192.168.0.10/a.wav",
    "http://172.16.5.4/a.wav",
    "http://100.64.0.1/a.wav",
    "http://100.100.100.200/latest/",
    "http://224.0.0.1/a.wav",
    "http://[ff02::1]/a.wav",
    "http://240.0.0.1/a.wav",
]


@pytest.mark.parametrize("url", FORBIDDEN_LITERALS)
async def test_forbidden_addresses_are_refused_before_any_connection(url: str, tmp_path: Path) -> None:
    seams = Recorder()
    with pytest.raises(ForbiddenAddress, match=r"^The audio URL points to .*only public addresses"):
        await fetch_input(url, tmp_path / "in", settings_for(tmp_path, False), "audio",
                          resolver=seams.resolve, transport=seams.transport)
    assert seams.requests == []
    assert seams.lookups == []  # numeric hosts are judged as written, with no lookup
    assert not (tmp_path / "in").exists()


@pytest.mark.parametrize(("host", "addresses"), [
    ("metadata.google.internal", ["169.254.169.254"]),
    ("localhost", ["127.0.0.1", "::1"]),
    ("split.example", [PUBLIC_IP, "10.0.0.7"]),  # one bad address is enough to refuse
])
async def test_names_are_judged_by_every_address_they_resolve_to(host: str, addresses: list[str],
                                                                 tmp_path: Path) -> None:
    seams = Recorder({host: addresses})
    with pytest.raises(ForbiddenAddress, match=r"points to (a|an) [a-z -]+ \("):
        await fetch_input(f"http://{host}/a.wav", tmp_path / "in", settings_for(tmp_path, False),
                          "audio", resolver=seams.resolve, transport=seams.transport)
    assert seams.lookups == [host]
    assert seams.requests == []


async def test_a_real_loopback_server_is_never_reached(served: Served, tmp_path: Path) -> None:
    served.body("/a.wav", WAV)
    for url in (served.url("/a.wav"), served.url("/a.wav", host="localhost")):
        with pytest.raises(ForbiddenAddress):
            await fetch_input(url, tmp_path / "in", settings_for(tmp_path, False), "audio")
    assert served.requests == []


async def test_connects_to_the_checked_address_and_keeps_the_name(served: Served, tmp_path: Path) -> None:
    """The name is resolved once; the connection goes to that address with the name as Host."""
    served.body("/a.wav", WAV)
    seams = Recorder({"media.example": ["127.0.0.1"]})
    path = await fetch_input(f"http://media.example:{served.port}/a.wav", tmp_path / "in",
                             settings_for(tmp_path, True), "audio", resolver=seams.resolve)
    assert path.read_bytes() == WAV
    assert seams.lookups == ["media.example"]
    assert served.requests == [("/a.wav", f"media.example:{served.port}")]


async def test_the_mock_transport_sees_the_ip_in_the_url_and_the_name_elsewhere(tmp_path: Path) -> None:
    seams = Recorder({"media.example": [PUBLIC_IP]})
    await fetch_input("https://media.example/a.wav", tmp_path / "in", settings_for(tmp_path, False),
                      "audio", resolver=seams.resolve, transport=seams.transport)
    (request,) = seams.requests
    assert request.url.host == PUBLIC_IP
    assert request.headers["Host"] == "media.example"
    assert request.extensions["sni_hostname"] == "media.example"


async def test_a_redirect_to_a_private_address_is_refused(tmp_path: Path) -> None:
    seams = Recorder({"cdn.example": [PUBLIC_IP]},
                     answer=lambda request: httpx.Response(
                         302, headers={"Location": "http://169.254.169.254/latest/meta-data/"}))
    with pytest.raises(ForbiddenAddress, match=r"The video URL redirected to a cloud metadata address"):
        await fetch_input("http://cdn.example/v.mp4", tmp_path / "in", settings_for(tmp_path, False),
                          "video", resolver=seams.resolve, transport=seams.transport)
    assert [r.url.host for r in seams.requests] == [PUBLIC_IP]


async def test_a_redirect_to_a_private_name_is_refused_too(tmp_path: Path) -> None:
    seams = Recorder({"cdn.example": [PUBLIC_IP], "inside.example": ["10.0.0.8"]},
                     answer=lambda request: httpx.Response(302, headers={"Location": "//inside.example/x"}))
    with pytest.raises(ForbiddenAddress, match=r"redirected to a private network address \(10.0.0.8\)"):
        await fetch_input("http://cdn.example/v.mp4", tmp_path / "in", settings_for(tmp_path, False),
                          "video", resolver=seams.resolve, transport=seams.transport)
    assert seams.lookups == ["cdn.example", "inside.example"]
    assert len(seams.requests) == 1


async def test_redirects_are_followed_and_counted(served: Served, tmp_path: Path) -> None:
    served.redirect("/old.wav", "/new.wav")
    served.body("/new.wav", WAV)
    served.redirect("/loop", "/loop")
    settings = settings_for(tmp_path, True)
    path = await fetch_input(served.url("/old.wav"), tmp_path / "in", settings, "audio")
    assert path.read_bytes() == WAV
    with pytest.raises(FetchError, match=r"^The audio URL redirected more than 5 times$"):
        await fetch_input(served.url("/loop"), tmp_path / "in2", settings, "audio")
    assert [p for p, _ in served.requests].count("/loop") == 6


async def test_content_is_judged_by_its_bytes_not_its_name(served: Served, tmp_path: Path) -> None:
    served.body("/song.mp3", PNG)
    served.body("/face.png", WAV)
    settings = settings_for(tmp_path, True)
    with pytest.raises(FetchError) as refused:
        await fetch_input(served.url("/song.mp3"), tmp_path / "a", settings, "audio")
    assert str(refused.value) == "The audio URL does not point to an audio file (it looks like a PNG image)"
    with pytest.raises(FetchError, match=r"^The mask_image URL does not point to an image \(it looks "
                                         r"like a WAV audio file\)$"):
        await fetch_input(served.url("/face.png"), tmp_path / "b", settings, "image", label="mask_image")
    assert not (tmp_path / "a").exists()


async def test_an_oversize_body_is_cut_off_at_the_cap(served: Served, tmp_path: Path) -> None:
    total = 64 << 20
    stopped = threading.Event()  # the server's writes ended: cut off, or all sent

    def endless(h: http.server.BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.end_headers()  # no Content-Length: only streaming can enforce the cap
        chunk = WAV + bytes((64 << 10) - len(WAV))
        served.sent["/big.wav"] = 0
        try:
            while served.sent["/big.wav"] < total:
                h.wfile.write(chunk)
                served.sent["/big.wav"] += len(chunk)
        finally:
            stopped.set()

    served.routes["/big.wav"] = endless
    served.body("/declared.wav", WAV + bytes(300_000))
    settings = settings_for(tmp_path, True, max_bytes=200_000)
    with pytest.raises(FetchError, match=r"^The audio URL is larger than the 200000 bytes limit$"):
        await fetch_input(served.url("/big.wav"), tmp_path / "in", settings, "audio")
    with pytest.raises(FetchError, match=r"larger than the 200000 bytes limit"):
        await fetch_input(served.url("/declared.wav"), tmp_path / "in", settings, "audio")
    assert not (tmp_path / "in").exists()
    await wait_until_async(stopped.is_set, timeout=30, what="the server's writes to end")
    assert served.sent["/big.wav"] < total // 4  # the server was cut off, not read to the end


async def test_http_errors_and_dead_servers_are_explained(served: Served, tmp_path: Path) -> None:
    settings = settings_for(tmp_path, True)
    with pytest.raises(FetchError, match=r"^The audio URL answered HTTP 404$"):
        await fetch_input(served.url("/missing.wav"), tmp_path / "in", settings, "audio")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    with pytest.raises(FetchError, match=r"^Could not fetch the video URL: connection refused$"):
        await fetch_input(f"http://127.0.0.1:{closed_port}/v.mp4", tmp_path / "in", settings, "video")
    seams = Recorder()
    with pytest.raises(FetchError, match=r"the host name nowhere.invalid could not be resolved"):
        await fetch_input("http://nowhere.invalid/a.wav", tmp_path / "in", settings, "audio",
                          resolver=seams.resolve)


async def test_a_stalled_server_times_out(served: Served, tmp_path: Path) -> None:
    def stall(h: http.server.BaseHTTPRequestHandler) -> None:
        h.send_response(200)
        h.send_header("Content-Length", "100000")
        h.end_headers()
        h.wfile.write(WAV)
        h.wfile.flush()
        time.sleep(1.5)

    served.routes["/slow.wav"] = stall
    with pytest.raises(FetchError, match=r"^Could not fetch the audio URL: the server stopped sending"):
        await fetch_input(served.url("/slow.wav"), tmp_path / "in", settings_for(tmp_path, True), "audio",
                          limits=FetchLimits(read_timeout=0.3))


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/a.wav", "gopher://x/",
                                 "http:///a.wav", "http://0177.0.0.1/a.wav"])
async def test_only_well_formed_http_urls(url: str, tmp_path: Path) -> None:
    seams = Recorder()
    with pytest.raises(FetchError):
        await fetch_input(url, tmp_path / "in", settings_for(tmp_path, True), "audio",
                          resolver=seams.resolve, transport=seams.transport)
    assert seams.requests == []


async def test_our_own_upload_links_are_read_from_disk(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, False)
    key = LocalStorage(settings.data_dir).put_bytes("uploads/abcdefgh1234.wav", WAV)
    seams = Recorder()
    path = await fetch_input(signed_url(settings, key), tmp_path / "in", settings, "audio",
                             resolver=seams.resolve, transport=seams.transport)
    assert path == settings.data_dir / key
    assert seams.requests == [] and seams.lookups == []
    with pytest.raises(FetchError, match=r"does not point to an image"):
        await fetch_input(signed_url(settings, key), tmp_path / "in", settings, "image")


def test_address_policy() -> None:
    assert forbidden_reason(ipaddress.ip_address(PUBLIC_IP)) is None
    assert forbidden_reason(ipaddress.ip_address("2606:4700:4700::1111")) is None
    assert forbidden_reason(ipaddress.ip_address("::ffff:8.8.8.8")) is None  # mapped public v4
    assert forbidden_reason(ipaddress.ip_address("169.254.169.254")) == "a cloud metadata address"
    assert forbidden_reason(ipaddress.ip_address("::ffff:127.0.0.1")) == "a loopback address"
    assert forbidden_reason(ipaddress.ip_address("2002:c0a8:0101::1")) == "a private network address"
    assert literal_ip("017700000001") == ipaddress.ip_address("127.0.0.1")
    assert literal_ip("127.1") == ipaddress.ip_address("127.0.0.1")
    assert literal_ip("[::1]") == ipaddress.ip_address("::1")
    assert literal_ip("example.com") is None
    assert literal_ip("1e100.net") is None


def test_the_cli_download_follows_redirects_and_keeps_its_limits(served: Served, tmp_path: Path) -> None:
    served.body("/a.wav", b"RIFF" + bytes(2000))
    served.redirect("/moved", "/a.wav")
    served.body("/gone", b"nope", status=404)
    got = download(served.url("/moved"), tmp_path / "a.wav")
    assert got.read_bytes() == b"RIFF" + bytes(2000)
    with pytest.raises(FetchError, match="HTTP 404"):
        download(served.url("/gone"), tmp_path / "b.wav")
    with pytest.raises(FetchError, match="larger than"):
        download(served.url("/a.wav"), tmp_path / "c.wav", max_bytes=1000)
    with pytest.raises(FetchError, match="Only http"):
        download("file:///etc/passwd", tmp_path / "d")
