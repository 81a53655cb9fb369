"""Who may do what: API keys, their roles, and whether an open server is exposed.

With `API_KEYS` (and optionally `READ_API_KEYS`) set, every request but the
public ones (see middleware/api_keys.py) must carry a key, as
`Authorization: Bearer <key>` or `X-API-Key: <key>`. Without keys the server is
open, and then it serves loopback only unless `ALLOW_OPEN=1`.
"""

from __future__ import annotations

import enum
import hmac
import ipaddress
import socket
from collections.abc import Mapping

from config import Settings


class Role(enum.Enum):
    READ = "read"  # queries, listings, downloads, subscriptions
    WRITE = "write"  # everything, mutations included


class KeyRing:
    def __init__(self, write_keys: tuple[str, ...], read_keys: tuple[str, ...]) -> None:
        self._keys = [(key.encode(), Role.WRITE) for key in write_keys] + [
            (key.encode(), Role.READ) for key in read_keys
        ]

    @classmethod
    def from_settings(cls, settings: Settings) -> KeyRing:
        return cls(settings.api_keys, settings.read_api_keys)

    @property
    def open(self) -> bool:
        return not self._keys

    def role_of(self, presented: str | None) -> Role | None:
        """The role of a presented key, or None. Every key is compared, each in
        constant time, so the answer's timing says nothing about which key (or
        how much of one) matched."""
        if presented is None:
            return None
        candidate = presented.encode()
        found: Role | None = None
        for key, role in self._keys:
            if hmac.compare_digest(key, candidate) and found is None:
                found = role
        return found


def key_from_headers(headers: Mapping[str, str]) -> str | None:
    """The key sent as `Authorization: Bearer <key>` or `X-API-Key: <key>`."""
    authorization = headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return headers.get("x-api-key") or None


def key_from_connection_params(params: object) -> str | None:
    """The key a browser's websocket sends in graphql-transport-ws's
    `connection_init` payload, since it cannot set headers: `{"apiKey": k}` or
    `{"Authorization": "Bearer k"}`."""
    if not isinstance(params, dict):
        return None
    lowered = {str(k).lower(): v for k, v in params.items() if isinstance(v, str)}
    if lowered.get("apikey"):
        return str(lowered["apikey"])
    return key_from_headers(lowered)


def loopback_address(host: str) -> bool | None:
    """Whether an IP address is a loopback one; None when `host` is not an IP
    address (a name, which only DNS could tell)."""
    try:
        return ipaddress.ip_address(host.strip("[]").split("%")[0]).is_loopback
    except ValueError:
        return None


def is_loopback(host: str) -> bool:
    """Whether every address `host` names is a loopback one. `0.0.0.0` and `::`
    (every interface) are not."""
    if host == "localhost":
        return True
    literal = loopback_address(host)
    if literal is not None:
        return literal
    try:
        found = socket.getaddrinfo(host, None)
    except OSError:
        return False
    return bool(found) and all(loopback_address(str(info[4][0])) for info in found)


def exposure_problem(settings: Settings, host: str) -> str | None:
    """Why serving on `host` with these settings would be unsafe, if it would."""
    if settings.api_keys or settings.read_api_keys or settings.allow_open or is_loopback(host):
        return None
    return (
        f"Refusing to serve on {host}: the server has no API keys, so anyone who can reach it"
        " could upload and delete files. Set API_KEYS (and READ_API_KEYS), or set ALLOW_OPEN=1"
        " if it is meant to be open (behind your own authentication, say)."
    )
