"""Webhooks: where a notification may be POSTed, and how it is signed.

Signing follows the Standard Webhooks specification with its reference library (the receiver
verifies with the same library in any language): `webhook-id` is the notification id (stable,
so a receiver de-duplicates retries on it), `webhook-timestamp` the attempt's Unix time, and
`webhook-signature` "v1,<base64 HMAC-SHA256 of id.timestamp.body>" under the subscription's
secret ("whsec_" + base64 of 32 random bytes).

A registered URL must not reach the service's own network: a bureau could otherwise make the
service call its internal endpoints (server-side request forgery). Every address the host
resolves to must be public, unless it lies in an operator's allow-list; checked at
registration and again at each delivery (a name can be made to resolve elsewhere later).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import re
import socket
from collections.abc import Callable, Iterable
from datetime import datetime
from urllib.parse import urlsplit

from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"
MAX_URL = 2_000

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolve = Callable[[str, int], list[str]]  # host, port -> the addresses it resolves to


def signed_headers(secret: str, notification_id: str, at: datetime, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers of one delivery attempt of ``body``."""
    signature = Webhook(secret).sign(notification_id, at, body.decode())
    return {
        "webhook-id": notification_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
        "content-type": "application/json",
    }


def resolve_with_dns(host: str, port: int) -> list[str]:
    return sorted({info[4][0] for info in socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)})


def url_problem(
    url: str,
    *,
    allowed: Iterable[Network] = (),
    resolve: Resolve = resolve_with_dns,
) -> str | None:
    """Why notifications may not be POSTed to ``url`` (None: they may). HTTPS only, unless the
    host is in the operator's allow-list (a receiver inside the cluster)."""
    if len(url) > MAX_URL:
        return f"longer than {MAX_URL} characters"
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as bad:
        return f"not a URL: {bad}"
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "must be an https:// URL with a host"
    if parts.username or parts.password:
        return "must not carry credentials (the signature authenticates the sender)"
    if not is_address(parts.hostname) and not _is_host_name(parts.hostname):
        return f"{parts.hostname[:100]!r} is neither a host name nor an IP address"
    try:
        addresses = resolve(parts.hostname, port or (443 if parts.scheme == "https" else 80))
    except OSError as unresolved:
        return f"{parts.hostname} does not resolve: {unresolved}"
    return addresses_problem(parts.hostname, addresses, parts.scheme, allowed)


def addresses_problem(
    host: str, resolved: Iterable[str], scheme: str, allowed: Iterable[Network] = ()
) -> str | None:
    """Why a webhook may not connect to the addresses ``host`` resolved to (None: it may);
    checked again at each connection (delivery.CheckedResolver)."""
    allowed = list(allowed)
    try:
        addresses = [ipaddress.ip_address(a.split("%")[0]) for a in resolved]
    except ValueError as bad:
        return f"{host} resolves to something that is no address: {bad}"
    if not addresses:
        return f"{host} does not resolve"
    inside = [a for a in addresses if not _public(a) and not _allowed(a, allowed)]
    if inside:
        return (
            f"{host} resolves to {inside[0]}, inside the service's own network "
            "(loopback, link-local, private or reserved); an operator can allow it"
        )
    if scheme == "http" and not all(_allowed(a, allowed) for a in addresses):
        return "must be https:// (plain http only to an operator-allowed network)"
    return None


def derived_secret(key: bytes, recipient: str, subscription_id: str) -> str:
    """A subscription's signing secret, derived from the service's webhook key: stored
    nowhere, the same on every replica, and new when the subscription is put under a new id."""
    digest = hmac.new(key, f"{recipient}/{subscription_id}".encode(), hashlib.sha256).digest()
    return SECRET_PREFIX + base64.b64encode(digest).decode()


# A DNS name: dot-separated labels, the last one not all digits (so "2130706433" or
# "0x7f.1", which resolvers read as addresses, are no names).
_HOST = re.compile(
    r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)*[a-z]([a-z0-9-]{0,61}[a-z0-9])?"
)


def _is_host_name(host: str) -> bool:
    """A DNS name, a trailing dot and international names (IDNA) included."""
    try:
        ascii_name = host.removesuffix(".").encode("idna").decode()
    except UnicodeError:
        return False
    return bool(_HOST.fullmatch(ascii_name))


def is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _public(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        address = mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    return address.is_global and not address.is_multicast


def _allowed(address, allowed: list[Network]) -> bool:
    return any(address.version == n.version and address in n for n in allowed)
