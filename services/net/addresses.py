"""Which IP addresses a URL given by a user may reach.

Inputs (and webhooks) are URLs chosen by strangers; fetching them from inside the cluster must not
reach the cluster itself: loopback, private networks, link-local (where cloud metadata lives),
multicast, reserved and unspecified addresses are refused. IPv6 addresses that carry an IPv4
address (mapped, NAT64, 6to4, Teredo) are judged by the IPv4 address inside, so
`::ffff:127.0.0.1` is loopback.

Host names are judged by what they resolve to, never by how they are spelled; `literal_ip` reads
the numeric spellings the C resolver accepts (`2130706433`, `0177.0.0.1`, `127.1`) so they
are judged without a lookup.

Written here: `ipaddress` knows the ranges but not which of them are the usual SSRF prizes, nor
the IPv6 forms that carry an IPv4 address; the SSRF libraries on PyPI wrap `requests`, not the
httpx client every request here goes through.
"""

from __future__ import annotations

import ipaddress
import socket

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# Instance metadata services: named apart because they are the usual prize of an SSRF.
METADATA = frozenset(ipaddress.ip_address(a) for a in (
    "169.254.169.254",  # AWS, GCP, Azure, OpenStack, DigitalOcean...
    "169.254.170.2",    # AWS ECS task metadata
    "100.100.100.200",  # Alibaba Cloud
    "192.0.0.192",      # Oracle Cloud
    "fd00:ec2::254",    # AWS over IPv6
))

# Not public, yet some Python versions call them global.
_NOT_PUBLIC_V4 = tuple(ipaddress.ip_network(n) for n in (
    "0.0.0.0/8", "100.64.0.0/10", "192.0.0.0/24", "198.18.0.0/15", "240.0.0.0/4",
))
_NAT64 = ipaddress.ip_network("64:ff9b::/96")


def literal_ip(host: str) -> IPAddress | None:
    """The address a numeric host spells, in any form the C resolver would accept."""
    host = host.strip("[]")
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    # Decimal, octal, hex and shortened IPv4 forms: inet_aton reads them as getaddrinfo would.
    if host and all(c in "0123456789abcdefxABCDEFX." for c in host) and host[0].isdigit():
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def _embedded_v4(addr: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    if addr in _NAT64:
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    if addr.sixtofour is not None:
        return addr.sixtofour
    if addr.teredo is not None:
        return addr.teredo[1]
    return None


def forbidden_reason(addr: IPAddress) -> str | None:
    """Why `addr` must not be reached (e.g. "a loopback address"), or None for a public address."""
    if addr in METADATA:
        return "a cloud metadata address"
    if isinstance(addr, ipaddress.IPv6Address):
        inner = _embedded_v4(addr)
        if inner is not None:
            return forbidden_reason(inner)
    if addr.is_unspecified:
        return "an unspecified address"
    if addr.is_loopback:
        return "a loopback address"
    if addr.is_link_local:
        return "a link-local address"
    if addr.is_multicast:
        return "a multicast address"
    if addr.is_private or (isinstance(addr, ipaddress.IPv4Address)
                           and any(addr in net for net in _NOT_PUBLIC_V4)):
        return "a private network address"
    if addr.is_reserved or not addr.is_global:
        return "a reserved address"
    return None
