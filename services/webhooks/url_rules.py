"""Which webhook URLs the service accepts, checked without DNS so submitting stays fast.

`validate_webhook_url` runs when a job is submitted: it looks at the URL's text only (scheme,
host, length, and an IP literal's range). Names are resolved later, by the webhook dispatcher,
which checks every address a name resolves to with `is_public_address` before it connects.
The address rules themselves are `services.net.addresses`, shared with input fetching.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from services.core.settings import Settings
from services.net.addresses import IPAddress, forbidden_reason, literal_ip

MAX_URL_LENGTH = 2048

# Hosts that name this machine or the cloud metadata service without being IP literals.
_LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback",
                          "metadata", "metadata.google.internal"})


def is_public_address(ip: IPAddress) -> bool:
    """One rule for inputs and webhooks alike: `services.net.addresses`."""
    return forbidden_reason(ip) is None


def validate_webhook_url(url: str, settings: Settings) -> str | None:
    """A readable reason why `url` cannot be a webhook, or None when it can ("" means no webhook)."""
    if not url:
        return None
    if len(url) > MAX_URL_LENGTH:
        return f"webhook URL is longer than {MAX_URL_LENGTH} characters"
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        return "webhook URL must not contain spaces or control characters"
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a port that is not a number in range
    except ValueError:
        return "webhook is not a valid URL"
    scheme = parts.scheme.lower()
    if scheme not in {"http", "https"}:
        return "webhook must be an https:// URL"
    if scheme == "http" and not settings.allow_http_webhooks:
        return "webhook must use https:// (plain http is not allowed on this server)"
    host = (parts.hostname or "").rstrip(".")
    if not host:
        return "webhook URL has no host"
    if not settings.allow_private_urls:
        # Only what the text itself shows; names are checked after resolution, at delivery.
        literal = literal_ip(host)
        if host in _LOCAL_NAMES or host.endswith(".localhost") or (
                literal is not None and not is_public_address(literal)):
            return "webhook must point to a public address, not a private or local one"
    return None
