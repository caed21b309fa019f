"""etcd's auth token providers (auth/simple_token.go, auth/jwt.go): `simple` tokens, random
letters + "." + the raft index that issued them, kept by every member that applied the
Authenticate and dropped after --auth-token-ttl without use; and `jwt` tokens, signed claims
of user name and auth revision that any member holding the public key verifies.

The `--auth-token` flag value is parsed here as etcd parses it: `simple`, or
`jwt,pub-key=PATH,priv-key=PATH,sign-method=RS256,ttl=5m`.
"""

from __future__ import annotations

import secrets
import string
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives import serialization

DEFAULT_TOKEN_TTL_S = 300
"""etcd's --auth-token-ttl default (seconds), also a JWT's default lifetime (ttl=5m)."""
_SIMPLE_PREFIX_LETTERS = 16
_LETTERS = string.ascii_letters


@dataclass(slots=True, frozen=True)
class AuthInfo:
    """Who makes a request and at which auth revision its token was checked (etcd's AuthInfo)."""

    username: str
    revision: int


class TokenConfigError(ValueError):
    """A --auth-token value etcd would refuse, in etcd's words where it has them."""


class TokenProvider(Protocol):
    """What the auth store asks of a token kind."""

    def enable(self) -> None: ...

    def disable(self) -> None: ...

    def assign(self, username: str, revision: int, prefix: str, index: int) -> str: ...

    def info(self, token: str, revision: int) -> AuthInfo | None: ...

    def invalidate_user(self, username: str) -> None: ...


def new_token_prefix() -> str:
    """The random part of a simple token, chosen before proposing (etcd's GenTokenPrefix)."""
    return "".join(secrets.choice(_LETTERS) for _ in range(_SIMPLE_PREFIX_LETTERS))


class SimpleTokens:
    """etcd's simple tokens: opaque, remembered with their user, each use renews its TTL."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._enabled = False
        self._tokens: dict[str, tuple[str, float]] = {}

    def enable(self) -> None:
        self._enabled = True

    def disable(self) -> None:
        self._enabled = False
        self._tokens.clear()

    def assign(self, username: str, revision: int, prefix: str, index: int) -> str:
        token = f"{prefix}.{index}"
        self._tokens[token] = (username, self._clock() + self._ttl)
        return token

    def info(self, token: str, revision: int) -> AuthInfo | None:
        if not self._enabled:
            return None
        found = self._tokens.get(token)
        now = self._clock()
        if found is None:
            return None
        username, expires = found
        if now >= expires:
            del self._tokens[token]
            return None
        self._tokens[token] = (username, now + self._ttl)
        return AuthInfo(username, revision)

    def invalidate_user(self, username: str) -> None:
        for token in [t for t, (user, _) in self._tokens.items() if user == username]:
            del self._tokens[token]


class JwtTokens:
    """etcd's JWT tokens: claims username, revision and exp, signed with the private key;
    a member with only the public key verifies them and cannot issue any."""

    def __init__(
        self,
        sign_method: str,
        public_key: Any,
        private_key: Any | None,
        ttl: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._method = sign_method
        self._public = public_key
        self._private = private_key
        self._ttl = ttl
        self._clock = clock

    def enable(self) -> None:
        pass

    def disable(self) -> None:
        pass

    def assign(self, username: str, revision: int, prefix: str, index: int) -> str:
        if self._private is None:
            raise TokenConfigError("auth: JWT token provider has no private key to sign with")
        claims = {"username": username, "revision": revision,
                  "exp": int(self._clock() + self._ttl)}
        return jwt.encode(claims, self._private, algorithm=self._method)

    def info(self, token: str, revision: int) -> AuthInfo | None:
        try:
            claims = jwt.decode(token, self._public, algorithms=[self._method])
        except jwt.PyJWTError:
            return None
        username, token_revision = claims.get("username"), claims.get("revision")
        if not isinstance(username, str) or not isinstance(token_revision, int):
            return None
        return AuthInfo(username, token_revision)

    def invalidate_user(self, username: str) -> None:
        pass


_DURATION_UNITS = {"h": 3600.0, "ms": 0.001, "s": 1.0, "m": 60.0}


def _duration(text: str) -> float:
    """A Go duration (5m, 30s, 1h30m, 500ms) in seconds."""
    total, number, rest = 0.0, "", text
    if not rest:
        raise TokenConfigError(f"time: invalid duration {text!r}")
    while rest:
        while rest and (rest[0].isdigit() or rest[0] == "."):
            number, rest = number + rest[0], rest[1:]
        unit = next((u for u in _DURATION_UNITS if rest.startswith(u)), None)
        if not number or unit is None:
            raise TokenConfigError(f"time: invalid duration {text!r}")
        total += float(number) * _DURATION_UNITS[unit]
        number, rest = "", rest[len(unit):]
    return total


def _load_keys(sign_method: str, options: dict[str, str]) -> tuple[Any, Any | None]:
    if sign_method.startswith("HS"):
        raise TokenConfigError("auth: etcd-node takes asymmetric JWT keys only (RS, PS, ES)")
    public_path, private_path = options.get("pub-key"), options.get("priv-key")
    if not public_path and not private_path:
        raise TokenConfigError("auth: invalid auth options (no key given)")
    try:
        private = None
        if private_path:
            private = serialization.load_pem_private_key(Path(private_path).read_bytes(), None)
        public = (
            serialization.load_pem_public_key(Path(public_path).read_bytes())
            if public_path
            else private.public_key()  # type: ignore[union-attr]
        )
    except (OSError, ValueError, TypeError) as exc:
        raise TokenConfigError(f"auth: failed to load JWT keys: {exc}") from exc
    return public, private


def token_provider(flag: str, simple_ttl: float) -> TokenProvider:
    """The provider an --auth-token value names (etcd's NewTokenProvider)."""
    kind, _, rest = flag.partition(",")
    if kind == "simple":
        return SimpleTokens(simple_ttl)
    if kind != "jwt":
        raise TokenConfigError(f"auth: unknown token type: {kind}")
    options: dict[str, str] = {}
    for item in rest.split(",") if rest else []:
        name, sep, value = item.partition("=")
        if not sep:
            raise TokenConfigError(f"auth: invalid auth token option: {item}")
        options[name] = value
    method = options.get("sign-method", "")
    if method not in jwt.algorithms.get_default_algorithms():
        raise TokenConfigError(f"auth: invalid sign method {method!r}")
    ttl = _duration(options["ttl"]) if "ttl" in options else float(DEFAULT_TOKEN_TTL_S)
    public, private = _load_keys(method, options)
    return JwtTokens(method, public, private, ttl)
