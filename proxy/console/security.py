"""Headers every console answer carries: a Content-Security-Policy that allows no inline
script or style and nothing from elsewhere (all assets are served from /console/static), and
the usual anti-framing and anti-sniffing headers. Result videos may come from the configured
public URL or the S3 endpoint (presigned links), which are then named in `media-src`."""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.requests import Request

from services.core.settings import Settings


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}" if parts.scheme in ("http", "https") and parts.netloc else ""


def media_sources(settings: Settings) -> str:
    sources = ["'self'", _origin(settings.public_url)]
    if settings.s3_bucket:
        sources.append(_origin(settings.s3_endpoint_url) or "https://*.amazonaws.com")
    return " ".join(s for s in dict.fromkeys(sources) if s)


def content_security_policy(settings: Settings) -> str:
    return "; ".join((
        "default-src 'none'", "script-src 'self'", "style-src 'self'", "img-src 'self' data:",
        "connect-src 'self'", f"media-src {media_sources(settings)}", "form-action 'self'",
        "frame-ancestors 'none'", "base-uri 'none'"))


def security_headers(request: Request) -> dict[str, str]:
    settings: Settings = request.app.state.settings
    return {"Content-Security-Policy": content_security_policy(settings), "X-Frame-Options": "DENY",
            "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"}
