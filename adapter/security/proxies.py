"""The caller's network address for the audit record (NEN 7513: the access point), across proxies.

`X-Forwarded-For` is anyone's to write, so it is read only when the connection comes from a proxy the
operator trusts (`VOORZORG_TRUSTED_PROXIES`, default none): then the address is the nearest hop that is
not itself a trusted proxy. A hop that is no IP address ends the walk: the connection's own address
stands, so nothing a client wrote ends up in the log as an address.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class TrustedProxies:
    networks: tuple[Network, ...]

    @classmethod
    def of(cls, networks: tuple[str, ...]) -> TrustedProxies:
        return cls(tuple(ipaddress.ip_network(n, strict=False) for n in networks))

    def trusts(self, host: str) -> bool:
        try:
            ip = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(ip in n for n in self.networks)

    def address(self, peer: str | None, forwarded_for: list[str]) -> str | None:
        """The caller's address: the connection's own, unless it is a trusted proxy that says whom it
        forwards for (the `X-Forwarded-For` headers as received, in order)."""
        if peer is None or not self.trusts(peer):
            return peer
        hops = [h.strip() for header in forwarded_for for h in header.split(",") if h.strip()]
        for hop in reversed(hops):
            try:
                ipaddress.ip_address(hop)
            except ValueError:
                return peer
            if not self.trusts(hop):
                return hop
        return peer
