"""Where a webhook may be sent: the URL rules, and the address actually connected to.

`resolve_target` is the whole SSRF policy of webhooks, in one function so a fuller module can
replace it. Unless private URLs are allowed, it resolves the host itself, refuses the URL if
any address is private, loopback, link-local (cloud metadata) or otherwise not public, and
pins the request to the address it checked: the request goes to that IP, with the original
`Host` header and TLS server name, so a second DNS answer (rebinding) cannot redirect it.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from services.core.settings import Settings
from services.net.addresses import literal_ip
from services.webhooks.url_rules import is_public_address, validate_webhook_url

# (host, port) -> the addresses it resolves to
Resolver = Callable[[str, int], Awaitable[list[str]]]


class RefusedURL(Exception):
    """The URL breaks the server's rules; sending to it will never be tried."""


class UnresolvableHost(Exception):
    """The host name did not resolve (maybe for now): worth another attempt later."""


@dataclass(frozen=True)
class WebhookTarget:
    url: httpx.URL  # what to connect to
    headers: dict[str, str] = field(default_factory=dict)  # Host, when pinned to an IP
    extensions: dict[str, Any] = field(default_factory=dict)  # TLS server name, when pinned


async def system_resolver(host: str, port: int) -> list[str]:
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


async def resolve_target(url: str, settings: Settings, timeout: float = 5.0,
                         resolver: Resolver = system_resolver) -> WebhookTarget:
    problem = validate_webhook_url(url, settings)
    if problem or not url:
        raise RefusedURL(problem or "no webhook URL")
    parsed = httpx.URL(url)
    if settings.allow_private_urls:
        return WebhookTarget(parsed)
    host = parsed.raw_host.decode("ascii")  # IDNA form, as DNS and TLS see it
    literal = literal_ip(host)
    if literal is not None:
        return WebhookTarget(parsed)  # validate_webhook_url has already checked its range
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        answers = await asyncio.wait_for(resolver(host, port), timeout)
    except (OSError, TimeoutError) as exc:
        raise UnresolvableHost(f"could not resolve {host}: {exc or 'timed out'}") from exc
    # getaddrinfo may add a scope to link-local IPv6 answers ("fe80::1%eth0").
    addresses = [ip for a in answers if (ip := literal_ip(a.split("%")[0])) is not None]
    if not addresses:
        raise UnresolvableHost(f"{host} has no address")
    # Every answer must be public: a name mixing public and private answers is refused too.
    private = [str(ip) for ip in addresses if not is_public_address(ip)]
    if private:
        raise RefusedURL(f"{host} resolves to a non-public address ({private[0]})")
    pinned = parsed.copy_with(host=str(addresses[0]))
    netloc = parsed.netloc.decode("ascii")
    extensions: dict[str, Any] = {"sni_hostname": host} if parsed.scheme == "https" else {}
    return WebhookTarget(pinned, {"Host": netloc}, extensions)
