"""Resolving a host once and sending the request to the address that was checked.

Input fetching and webhook delivery both reach URLs chosen by strangers. Both resolve the host
here, judge every address (`services.net.addresses`), then connect to a checked address while
the request keeps the name: the `Host` header and, for https, the TLS server name (so the
certificate is still checked against the name). A second DNS answer (rebinding) therefore cannot
send the request anywhere else.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from services.net.addresses import IPAddress, literal_ip

# host, port -> the addresses to try, in order. A seam: tests pass their own.
Resolver = Callable[[str, int], Awaitable[list[IPAddress]]]


async def system_resolver(host: str, port: int) -> list[IPAddress]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[IPAddress] = []
    for *_, sockaddr in infos:
        address = literal_ip(str(sockaddr[0]).split("%", 1)[0])  # drop an IPv6 zone id
        if address is not None and address not in found:
            found.append(address)
    return found


def host_of(url: httpx.URL) -> str:
    """The host as DNS and TLS see it (IDNA form)."""
    return url.raw_host.decode("ascii")


def port_of(url: httpx.URL) -> int:
    return url.port or (443 if url.scheme == "https" else 80)


async def addresses_of(url: httpx.URL, resolver: Resolver = system_resolver) -> list[IPAddress]:
    """Every address `url`'s host stands for: the literal itself, or what the resolver answers
    (OSError and TimeoutError pass through for the caller to word)."""
    literal = literal_ip(host_of(url))
    if literal is not None:
        return [literal]
    return await resolver(host_of(url), port_of(url))


@dataclass(frozen=True)
class PinnedRequest:
    url: httpx.URL  # what to connect to
    headers: dict[str, str] = field(default_factory=dict)  # Host, when pinned to an IP
    extensions: dict[str, Any] = field(default_factory=dict)  # TLS server name, when pinned


def pin(url: httpx.URL, address: IPAddress | None) -> PinnedRequest:
    """`url` sent to `address` under its own name; None (or an IP-literal URL) leaves it as is."""
    host = host_of(url)
    if address is None or literal_ip(host) is not None:
        return PinnedRequest(url, {"Host": url.netloc.decode("ascii")})
    extensions: dict[str, Any] = {"sni_hostname": host} if url.scheme == "https" else {}
    return PinnedRequest(url.copy_with(host=str(address)), {"Host": url.netloc.decode("ascii")}, extensions)
