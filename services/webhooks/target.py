"""Where a webhook may be sent: the URL rules, and the address actually connected to.

`resolve_target` is the whole SSRF policy of webhooks, in one function so a fuller module can
replace it. Unless private URLs are allowed, it resolves the host itself, refuses the URL if
any address is private, loopback, link-local (cloud metadata) or otherwise not public, and
pins the request to the address it checked: the request goes to that IP, with the original
`Host` header and TLS server name, so a second DNS answer (rebinding) cannot redirect it.
"""

from __future__ import annotations

import asyncio

import httpx

from services.core.settings import Settings
from services.net.pinning import PinnedRequest, Resolver, addresses_of, host_of, pin, system_resolver
from services.webhooks.url_rules import is_public_address, validate_webhook_url

__all__ = ["RefusedURL", "Resolver", "UnresolvableHost", "WebhookTarget", "resolve_target", "system_resolver"]

WebhookTarget = PinnedRequest


class RefusedURL(Exception):
    """The URL breaks the server's rules; sending to it will never be tried."""


class UnresolvableHost(Exception):
    """The host name did not resolve (maybe for now): worth another attempt later."""


async def resolve_target(url: str, settings: Settings, timeout: float = 5.0,
                         resolver: Resolver = system_resolver) -> WebhookTarget:
    problem = validate_webhook_url(url, settings)
    if problem or not url:
        raise RefusedURL(problem or "no webhook URL")
    parsed = httpx.URL(url)
    if settings.allow_private_urls:
        return WebhookTarget(parsed)
    host = host_of(parsed)
    try:
        addresses = await asyncio.wait_for(addresses_of(parsed, resolver), timeout)
    except (OSError, TimeoutError) as exc:
        raise UnresolvableHost(f"could not resolve {host}: {exc or 'timed out'}") from exc
    if not addresses:
        raise UnresolvableHost(f"{host} has no address")
    # Every answer must be public: a name mixing public and private answers is refused too.
    # (An IP literal was already judged by validate_webhook_url.)
    private = [str(ip) for ip in addresses if not is_public_address(ip)]
    if private:
        raise RefusedURL(f"{host} resolves to a non-public address ({private[0]})")
    return pin(parsed, addresses[0])
