"""Addresses this server will not call on a subscriber's say-so: a Subscription's endpoint is chosen by
whoever holds a token, so without this check a token would let its holder make the server POST into the
network it runs in (loopback, private ranges, link-local cloud metadata at 169.254.169.254): server-side
request forgery. `VOORZORG_SUBSCRIPTION_ALLOW_PRIVATE=true` lifts it (tests, a subscriber on the same
host or network)."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from adapter.config import Settings

_LOCAL_NAMES = ("localhost", "localhost.localdomain")


def _not_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])  # an IPv6 zone (fe80::1%eth0) is no address part
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


def named_local(endpoint: str) -> bool:
    """The endpoint names a local or private address itself (an IP literal or localhost): no DNS asked."""
    host = (urlsplit(endpoint).hostname or "").rstrip(".").lower()
    if host in _LOCAL_NAMES or host.endswith(".localhost"):
        return True
    try:
        return _not_public(host)
    except ValueError:  # a name, not an address
        return False


def resolves_local(endpoint: str) -> bool:
    """The endpoint's host names, or resolves to, any address that is not public (at the moment of
    sending: a name may point elsewhere than when the Subscription was made). A name that does not
    resolve is not judged here: the request itself will fail."""
    if named_local(endpoint):
        return True
    parts = urlsplit(endpoint)
    try:
        found = socket.getaddrinfo(parts.hostname or "", parts.port or 443, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return False
    return any(_not_public(str(info[4][0])) for info in found)


@dataclass(frozen=True)
class EndpointPolicy:
    """Which Subscription endpoints this server takes (VOORZORG_SUBSCRIPTION_ALLOW_HTTP, _ALLOW_PRIVATE)."""

    allow_http: bool = False
    allow_private: bool = False

    @classmethod
    def of(cls, settings: Settings) -> EndpointPolicy:
        return cls(settings.subscription_allow_http, settings.subscription_allow_private)

    def problem(self, endpoint: str) -> str | None:
        """Why the endpoint is not taken (a Subscription's 422), None when it is."""
        parts = urlsplit(endpoint)
        schemes = ("https", "http") if self.allow_http else ("https",)
        if parts.scheme not in schemes or not parts.hostname:
            return f"endpoint must be an absolute {' or '.join(schemes)} URL"
        if not self.allow_private and named_local(endpoint):
            return (
                "endpoint is a loopback, private or link-local address: this server does not call into its "
                "own network on a subscriber's say-so (VOORZORG_SUBSCRIPTION_ALLOW_PRIVATE)"
            )
        return None

    def refused_at_send(self, endpoint: str) -> str | None:
        """Why a notification is not sent to the endpoint now (its name may resolve elsewhere since)."""
        if not self.allow_private and resolves_local(endpoint):
            return "the endpoint resolves to a loopback, private or link-local address; not called"
        return None
