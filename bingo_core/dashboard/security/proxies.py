"""Which peers may say who the client is: ``dashboard.trustedProxies``.

A request from a peer in that list (addresses or networks) is taken to come from the
address its ``X-Forwarded-For`` names: the nearest one, reading from the right, that is not
itself a trusted proxy; its ``X-Forwarded-Proto`` (``http`` or ``https``) is its scheme.
Any other peer's forwarding headers are ignored, so a client cannot pick the address the
rate limit counts wrong keys against.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

from .asgi import Scope, header

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(entries: Iterable[str]) -> list[Network]:
    """Each entry (``10.0.0.1``, ``10.0.0.0/8``, ``::1``) as a network; ``ValueError``
    naming the first that is neither."""
    out: list[Network] = []
    for entry in entries:
        try:
            out.append(ipaddress.ip_network(entry.strip(), strict=False))
        except ValueError:
            raise ValueError(f"expected an IP address or network (CIDR), got {entry!r}") from None
    return out


class TrustedProxies:
    """The peers whose ``X-Forwarded-For`` and ``X-Forwarded-Proto`` are believed."""

    def __init__(self, entries: Iterable[str] = ()) -> None:
        self.networks = parse_networks(entries)

    def trusts(self, address: str) -> bool:
        """Whether ``address`` is one of the trusted proxies."""
        if not self.networks:
            return False
        try:
            ip = ipaddress.ip_address(address.strip().strip("[]"))
        except ValueError:
            return False
        return any(ip in net for net in self.networks)

    def apply(self, scope: Scope) -> None:
        """Put the forwarded client address and scheme in ``scope`` when the peer is
        trusted; leave it as the server saw it otherwise."""
        client = scope.get("client")
        if not client or not self.trusts(str(client[0])):
            return
        forwarded = header(scope, b"x-forwarded-for")
        if forwarded:
            hops = [h.strip() for h in forwarded.split(",") if h.strip()]
            chosen = next(
                (h for h in reversed(hops) if not self.trusts(h)), hops[0] if hops else ""
            )
            if chosen:
                scope["client"] = (chosen, 0)
        proto = (header(scope, b"x-forwarded-proto") or "").split(",")[-1].strip().lower()
        if proto in ("http", "https"):
            scope["scheme"] = proto
