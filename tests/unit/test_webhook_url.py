"""Webhook URL rules: the text checks at submit time, and the address checks before sending."""

from __future__ import annotations

import ipaddress

import pytest

from services.core.settings import Settings
from services.net.addresses import IPAddress
from services.webhooks.target import RefusedURL, Resolver, UnresolvableHost, resolve_target, system_resolver
from services.webhooks.url_rules import is_public_address, validate_webhook_url

STRICT = Settings()
LOCAL = Settings(allow_http_webhooks=True, allow_private_urls=True)


@pytest.mark.parametrize("url", ["https://hooks.example.com/lipsync", "https://93.184.216.34:8443/x?a=1",
                                 "https://[2606:4700::1111]/", ""])
def test_accepted(url: str) -> None:
    assert validate_webhook_url(url, STRICT) is None


@pytest.mark.parametrize(("url", "words"), [
    ("ftp://hooks.example.com/", "https"),
    ("hooks.example.com/x", "https"),
    ("http://hooks.example.com/", "plain http"),
    ("https:///path", "no host"),
    ("https://hooks.example.com:99999/", "not a valid URL"),
    ("https://hooks.example.com/a b", "spaces"),
    ("https://example.com/" + "a" * 2048, "longer than 2048"),
    ("https://127.0.0.1/", "public address"),
    ("https://[::1]/", "public address"),
    ("https://169.254.169.254/latest/meta-data", "public address"),
    ("https://localhost:3000/", "public address"),
    ("https://metadata.google.internal/", "public address"),
])
def test_refused(url: str, words: str) -> None:
    problem = validate_webhook_url(url, STRICT)
    assert problem is not None and words in problem


def test_local_development_allowances() -> None:
    assert validate_webhook_url("http://localhost:3000/webhooks", LOCAL) is None
    assert validate_webhook_url("http://10.0.0.5/", Settings(allow_http_webhooks=True)) is not None


@pytest.mark.parametrize(("address", "public"), [
    ("93.184.216.34", True), ("2606:4700::1111", True),
    ("127.0.0.1", False), ("10.1.2.3", False), ("172.16.0.1", False), ("192.168.1.1", False),
    ("169.254.169.254", False), ("100.64.0.1", False), ("0.0.0.0", False), ("224.0.0.1", False),
    ("::1", False), ("fe80::1", False), ("fd00:ec2::254", False), ("::ffff:127.0.0.1", False),
    ("64:ff9b::a00:1", False), ("2002:7f00:1::1", False), ("ff02::1", False), ("::7f00:1", False),
])
def test_public_addresses(address: str, public: bool) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is public


def _answers(*addresses: str | IPAddress) -> Resolver:
    async def resolver(host: str, port: int) -> list[IPAddress]:
        return [ipaddress.ip_address(str(a)) for a in addresses]
    return resolver


async def test_target_is_pinned_to_the_checked_address() -> None:
    target = await resolve_target("https://hooks.example.com:8443/in?x=1", STRICT,
                                  resolver=_answers("93.184.216.34", "2606:4700::1111"))
    assert str(target.url) == "https://93.184.216.34:8443/in?x=1"
    assert target.headers == {"Host": "hooks.example.com:8443"}
    assert target.extensions == {"sni_hostname": "hooks.example.com"}


async def test_target_refused_when_any_answer_is_private() -> None:
    with pytest.raises(RefusedURL, match="non-public"):
        await resolve_target("https://hooks.example.com/", STRICT,
                             resolver=_answers("93.184.216.34", "10.0.0.7"))


async def test_a_name_resolving_to_loopback_is_refused() -> None:
    loopback = await system_resolver("localhost", 443)  # from the hosts file: no network
    assert loopback and all(ipaddress.ip_address(a).is_loopback for a in loopback)
    with pytest.raises(RefusedURL, match="non-public"):
        await resolve_target("https://hooks.example.com/", STRICT, resolver=_answers(*loopback))


async def test_unresolvable_host_is_worth_retrying() -> None:
    async def failing(host: str, port: int) -> list[IPAddress]:
        raise OSError("Name or service not known")
    with pytest.raises(UnresolvableHost):
        await resolve_target("https://hooks.example.com/", STRICT, resolver=failing)


async def test_allowed_private_urls_are_not_resolved() -> None:
    target = await resolve_target("http://localhost:3000/hook", LOCAL, resolver=_answers())
    assert str(target.url) == "http://localhost:3000/hook" and target.headers == {}
