"""Fetching the inputs named by URL.

`fetch_input` (workers) fetches URLs chosen by strangers, so it guards the network it runs in:
- http(s) only; the host is resolved once and every address it has must be public (see
  `services.net.addresses`), unless `Settings.allow_private_urls`;
- the connection goes to the address that was checked (`services.net.pinning`, shared with
  webhook delivery), so a second DNS answer cannot send it elsewhere;
- redirects are followed by hand, at most `FetchLimits.max_redirects`, each one checked again;
- connect, read and total timeouts; the size cap holds while streaming, whatever the headers say;
- the body must be the kind of media asked for, judged by its first bytes (`services.net.sniff`).
One of our own signed upload links is read from disk instead.

`download` (the CLI) fetches a URL the user typed on their own machine: no address policy.

Every failure is a `FetchError` (a `MediaError`, so the job fails without retry) whose message
says which input and what to do about it.
"""

from __future__ import annotations

import asyncio
import ssl
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from services.core.settings import Settings
from services.engine.engine_errors import MediaError
from services.net import sniff
from services.net.addresses import IPAddress, forbidden_reason
from services.net.pinning import Resolver, addresses_of, host_of, pin, system_resolver
from services.storage.links import own_object

MAX_BYTES = 512 * 1024 * 1024
CHUNK = 1 << 16
USER_AGENT = "lipsync/0.1"
REDIRECTS = frozenset({301, 302, 303, 307, 308})
_NOUNS = {sniff.IMAGE: "an image", sniff.AUDIO: "an audio file", sniff.VIDEO: "a video"}


class FetchError(MediaError):
    """An input URL could not be fetched, or did not give what it should."""


class ForbiddenAddress(FetchError):
    """The URL leads to an address inputs may not come from (private, loopback, metadata...)."""


@dataclass(frozen=True)
class FetchLimits:
    connect_timeout: float = 10.0
    read_timeout: float = 30.0  # longest silence while the body streams
    total_timeout: float = 300.0
    max_redirects: int = 5


@dataclass(frozen=True)
class _Input:
    """Which input is being fetched, for messages: "The audio URL ..." / "the audio URL"."""

    label: str
    kind: str

    @property
    def subject(self) -> str:
        return f"The {self.label} URL"

    @property
    def object(self) -> str:
        return f"the {self.label} URL"


async def fetch_input(url: str, dest: Path, settings: Settings, kind: str, *, label: str | None = None,
                      limits: FetchLimits | None = None, resolver: Resolver = system_resolver,
                      transport: httpx.AsyncBaseTransport | None = None) -> Path:
    """Fetch `url` into `dest` and return the path to read: `dest`, or the upload itself when
    `url` is one of our own signed links. `kind` is "image", "audio" or "video"; `label` names
    the input in messages (e.g. "left_audio"; default: `kind`)."""
    if kind not in sniff.KINDS:
        raise ValueError(f"kind must be one of {sniff.KINDS}")
    what = _Input(label or kind, kind)
    limits = limits or FetchLimits()
    local = await asyncio.to_thread(own_object, settings, url, dest)
    if local is not None:
        with local.open("rb") as f:
            _check_kind(f.read(sniff.HEAD_BYTES), what)
        return local
    timeout = httpx.Timeout(limits.read_timeout, connect=limits.connect_timeout,
                            pool=limits.connect_timeout)
    dest.parent.mkdir(parents=True, exist_ok=True)
    try:
        async with asyncio.timeout(limits.total_timeout), httpx.AsyncClient(
                transport=transport, timeout=timeout, follow_redirects=False, trust_env=False) as client:
            await _follow(client, url, dest, settings, what, limits, resolver)
    except TimeoutError:
        dest.unlink(missing_ok=True)
        raise FetchError(f"Could not fetch {what.object}: it took longer than "
                         f"{limits.total_timeout:.0f} s to download") from None
    except BaseException:
        dest.unlink(missing_ok=True)
        raise
    return dest


async def _follow(client: httpx.AsyncClient, url: str, dest: Path, settings: Settings, what: _Input,
                  limits: FetchLimits, resolver: Resolver) -> None:
    try:
        current = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise FetchError(f"{what.subject} is not a valid URL ({exc})") from None
    for hop in range(limits.max_redirects + 1):
        addresses = await _checked_addresses(current, settings, what, resolver, redirected=hop > 0)
        response = await _connect(client, current, addresses, what, limits)
        try:
            if response.status_code in REDIRECTS:
                location = response.headers.get("location")
                if not location:
                    raise FetchError(f"{what.subject} answered HTTP {response.status_code} "
                                     "without saying where to go")
                try:
                    current = current.join(location)
                except httpx.InvalidURL:
                    raise FetchError(f"{what.subject} redirected to an invalid URL") from None
                continue
            if not 200 <= response.status_code < 300:
                raise FetchError(f"{what.subject} answered HTTP {response.status_code}")
            await _save(response, dest, settings.max_input_bytes, what, limits)
            return
        finally:
            await response.aclose()
    raise FetchError(f"{what.subject} redirected more than {limits.max_redirects} times")


async def _checked_addresses(url: httpx.URL, settings: Settings, what: _Input, resolver: Resolver,
                             redirected: bool) -> list[IPAddress]:
    """The addresses `url` may be fetched from; refuses before any connection is made."""
    verb = "redirected to" if redirected else "points to"
    if url.scheme not in ("http", "https"):
        raise FetchError(f"{what.subject} {verb} a {url.scheme or 'schemeless'} URL; "
                         "only http and https URLs can be fetched")
    host = host_of(url)
    if not host:
        raise FetchError(f"{what.subject} has no host name")
    try:
        addresses = await addresses_of(url, resolver)
    except OSError:
        addresses = []
    if not addresses:
        raise FetchError(f"Could not fetch {what.object}: the host name {host} could not be resolved")
    if not settings.allow_private_urls:
        for address in addresses:
            reason = forbidden_reason(address)
            if reason is not None:
                raise ForbiddenAddress(f"{what.subject} {verb} {reason} ({address}); "
                                       "only public addresses can be fetched")
    return addresses


async def _connect(client: httpx.AsyncClient, url: httpx.URL, addresses: list[IPAddress],
                   what: _Input, limits: FetchLimits) -> httpx.Response:
    """Send the GET to the checked addresses in turn, the first that accepts a connection."""
    headers = {"User-Agent": USER_AGENT, "Accept-Encoding": "identity", "Accept": "*/*"}
    error: httpx.TransportError | None = None
    for address in addresses:
        pinned = pin(url, address)
        request = client.build_request("GET", pinned.url, headers={**headers, **pinned.headers},
                                       extensions=pinned.extensions)
        try:
            return await client.send(request, stream=True)
        except httpx.ConnectError as exc:
            error = exc
        except httpx.TransportError as exc:
            raise _transport_failure(exc, what, limits) from None
    assert error is not None
    raise _transport_failure(error, what, limits) from None


async def _save(response: httpx.Response, dest: Path, cap: int, what: _Input, limits: FetchLimits) -> None:
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > cap:
        raise FetchError(f"{what.subject} is larger than the {_size(cap)} limit")
    head = b""
    size = 0
    try:
        # Plain file writes: 64 KiB at a time into the page cache, too short to need a thread.
        with dest.open("wb") as out:
            async for chunk in response.aiter_bytes(CHUNK):
                size += len(chunk)
                if size > cap:
                    raise FetchError(f"{what.subject} is larger than the {_size(cap)} limit")
                if len(head) < sniff.HEAD_BYTES:
                    head += chunk
                    if len(head) >= sniff.HEAD_BYTES:
                        _check_kind(head, what)  # refuse early: no need to download the rest
                out.write(chunk)
    except httpx.TransportError as exc:
        raise _transport_failure(exc, what, limits) from None
    except httpx.DecodingError:
        raise FetchError(f"Could not fetch {what.object}: the server sent a corrupt body") from None
    if len(head) < sniff.HEAD_BYTES:
        _check_kind(head, what)


def _check_kind(head: bytes, what: _Input) -> None:
    found = sniff.identify(head)
    if what.kind not in found.kinds:
        raise FetchError(f"{what.subject} does not point to {_NOUNS[what.kind]} "
                         f"(it looks like {found.label})")


def _causes(exc: BaseException) -> list[BaseException]:
    """`exc` and what lies under it (httpx wraps httpcore wraps anyio wraps the OS error)."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _transport_failure(exc: httpx.TransportError, what: _Input, limits: FetchLimits) -> FetchError:
    causes = _causes(exc)
    if isinstance(exc, httpx.ConnectTimeout | httpx.PoolTimeout):
        reason = f"the server did not answer within {limits.connect_timeout:.0f} s"
    elif isinstance(exc, httpx.TimeoutException):
        reason = f"the server stopped sending data for {limits.read_timeout:.0f} s"
    elif any(isinstance(c, ssl.SSLCertVerificationError) for c in causes):
        reason = "its TLS certificate is not valid"
    elif any(isinstance(c, ssl.SSLError) for c in causes):
        reason = "the TLS handshake failed"
    elif any(isinstance(c, ConnectionRefusedError) for c in causes):
        reason = "connection refused"
    elif isinstance(exc, httpx.ConnectError):
        reason = "could not connect to the server"
    elif isinstance(exc, httpx.RemoteProtocolError):
        reason = "the server broke off the answer or did not speak HTTP"
    else:
        reason = "the connection failed"
    return FetchError(f"Could not fetch {what.object}: {reason}")


def _size(n: int) -> str:
    return f"{n / (1 << 20):g} MiB" if n >= 1 << 20 else f"{n} bytes"


def download(url: str, dest: Path, max_bytes: int = MAX_BYTES, timeout: float = 30.0,
             total_timeout: float = 300.0) -> Path:
    """Stream `url` into `dest`; refuse non-http(s) URLs, oversize bodies and slow transfers."""
    if not url.startswith(("http://", "https://")):
        raise FetchError(f"Only http(s) URLs can be fetched: {url[:80]}")
    started = time.monotonic()
    too_large = FetchError(f"{url[:80]} is larger than the {_size(max_bytes)} limit")
    try:
        with httpx.stream("GET", url, headers={"User-Agent": USER_AGENT}, timeout=timeout,
                          follow_redirects=True) as response, dest.open("wb") as out:
            if response.is_error:
                raise FetchError(f"Could not fetch {url[:80]}: HTTP {response.status_code}")
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise too_large
            size = 0
            for chunk in response.iter_bytes(CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise too_large
                if time.monotonic() - started > total_timeout:
                    raise FetchError(f"{url[:80]} took longer than {total_timeout:.0f} s to fetch")
                out.write(chunk)
    except httpx.HTTPError as exc:
        raise FetchError(f"Could not fetch {url[:80]}: {exc}") from exc
    return dest
