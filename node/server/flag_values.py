"""Flag values as etcd 3.4 parses them, with Go's syntax and Go's error texts.

URLs as etcd's types.NewURL on Go's net/url (and URL lists and --initial-cluster maps), the
numbers and booleans of Go's flag package (strconv), and Go's time.ParseDuration; the
configuration (node/server/config.py) builds its flags and checks from these.
"""

from __future__ import annotations

import ipaddress
import json
import re
import socket
from collections.abc import Mapping

_URL_SCHEMES = ("http", "https", "unix", "unixs")
_SCHEME_ERROR = "URL scheme must be http, https, unix, or unixs: {}"
_HOST_PORT_ERROR = 'URL address does not have the form "host:port": {}'
_PATH_ERROR = "URL must not contain a path: {}"
MAX_PORT = 65_535
MAX_INT64 = 2**63 - 1
_MAX_UINT64 = 2**64 - 1


class ConfigError(Exception):
    """A flag or configuration etcd would refuse; the message is etcd's text where it has one."""


class FlagValueError(Exception):
    """A flag value that does not parse; the message is the reason Go's flag package gives."""


def go_quote(text: str) -> str:
    """Go's %q of a string."""
    return json.dumps(text, ensure_ascii=False)


def _go_quote_list(items: list[str]) -> str:
    """Go's %q of a []string."""
    return "[" + " ".join(go_quote(item) for item in items) + "]"


# --- URLs, as etcd's types.NewURL on top of Go's net/url -----------------------------------


def _split_scheme(text: str) -> tuple[str, str]:
    """Go's getScheme: the scheme (empty if the text has none) and the rest."""
    for index, char in enumerate(text):
        if char.isascii() and char.isalpha():
            continue
        if "0" <= char <= "9" or char in "+-.":
            if index == 0:
                return "", text
            continue
        if char == ":":
            if index == 0:
                raise FlagValueError(f"parse {go_quote(text)}: missing protocol scheme")
            return text[:index], text[index + 1 :]
        return "", text
    return "", text


def _split_host_port(host_port: str) -> tuple[str, str] | None:
    """Go's net.SplitHostPort: (host, port) without IPv6 brackets, or None if malformed."""
    colon = host_port.rfind(":")
    if colon < 0:
        return None
    if host_port.startswith("["):
        end = host_port.find("]")
        if end < 0 or end + 1 != colon:
            return None
        host = host_port[1:end]
    else:
        host = host_port[:colon]
        if ":" in host:
            return None
    port = host_port[colon + 1 :]
    if any(bracket in host + port for bracket in "[]"):
        return None
    return host, port


def _valid_optional_port(colon_port: str) -> bool:
    return re.fullmatch(r"(:[0-9]*)?", colon_port) is not None


def _check_authority_port(text: str, host: str) -> None:
    """Go's parseHost checks on the port part of a URL's host."""
    if host.startswith("["):
        end = host.rfind("]")
        if end < 0:
            raise FlagValueError(f"parse {go_quote(text)}: missing ']' in host")
        colon_port = host[end + 1 :]
    else:
        colon = host.rfind(":")
        colon_port = host[colon:] if colon >= 0 else ""
    if not _valid_optional_port(colon_port):
        raise FlagValueError(
            f"parse {go_quote(text)}: invalid port {go_quote(colon_port)} after host"
        )


def parse_url(text: str) -> str:
    """One URL as etcd's types.NewURL accepts it, in Go's url.String() form (scheme lower-cased).

    Raises FlagValueError with the text etcd gives (Go's url.Parse errors included).
    """
    text = text.strip()
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in text):
        raise FlagValueError(f"parse {go_quote(text)}: net/url: invalid control character in URL")
    scheme, rest = _split_scheme(text)
    rest = rest.split("#", 1)[0].split("?", 1)[0]
    host, path = "", rest
    if not rest.startswith("/"):
        if not scheme and ":" in rest.split("/", 1)[0]:
            raise FlagValueError(
                f"parse {go_quote(text)}: first path segment in URL cannot contain colon"
            )
    elif rest.startswith("//"):
        authority, slash, tail = rest[2:].partition("/")
        host, path = authority.rpartition("@")[2], slash + tail
        _check_authority_port(text, host)
    if scheme.lower() not in _URL_SCHEMES:
        raise FlagValueError(_SCHEME_ERROR.format(text))
    if _split_host_port(host) is None:
        raise FlagValueError(_HOST_PORT_ERROR.format(text))
    if path:
        raise FlagValueError(_PATH_ERROR.format(text))
    return scheme.lower() + text[len(scheme) :]


def parse_urls(text: str) -> list[str]:
    """A comma-separated URL list as etcd's types.NewURLs: each URL checked, the list sorted."""
    return sorted(parse_url(part) for part in text.split(","))


def parse_initial_cluster(text: str) -> dict[str, list[str]]:
    """--initial-cluster `name=url,name=url,...` as etcd's types.NewURLsMap, in first-seen order.

    A name may repeat to give a member several peer URLs; each member's URLs are sorted.
    """
    raw: dict[str, list[str]] = {}
    for pair in text.split(","):
        if pair:
            name, _, url = pair.partition("=")
            raw.setdefault(name, []).append(url)
    cluster: dict[str, list[str]] = {}
    for name, urls in raw.items():
        try:
            cluster[name] = sorted(parse_url(url) for url in urls)
        except FlagValueError as error:
            raise ConfigError(f"error setting up initial cluster: {error}") from None
    return cluster


def urls_map_string(cluster: Mapping[str, list[str]]) -> str:
    """etcd's URLsMap.String(): sorted `name=url` pairs."""
    return ",".join(sorted(f"{name}={url}" for name, urls in cluster.items() for url in urls))


def url_host_port(url: str) -> tuple[str, str]:
    authority = url.split("://", 1)[1].split("?", 1)[0].split("#", 1)[0].rpartition("@")[2]
    host_port = _split_host_port(authority)
    if host_port is None:
        raise ConfigError(_HOST_PORT_ERROR.format(url))
    return host_port


def bind_address(url: str) -> tuple[str, int]:
    host, port = url_host_port(url)
    return host, int(port or 0)


def _resolved(url: str) -> str:
    """url with a DNS host name replaced by its address (IPv4 first), as etcd compares peer URLs."""
    host, port = url_host_port(url)
    if host == "localhost" or is_ip(host):
        return url
    try:
        found = socket.getaddrinfo(host, int(port or 0), type=socket.SOCK_STREAM)
    except OSError as error:
        raise ConfigError(f"failed to resolve {go_quote(url)} ({error})") from None
    family, _, _, _, address = min(found, key=lambda info: info[0] != socket.AF_INET)
    shown = f"[{address[0]}]" if family == socket.AF_INET6 else address[0]
    return f"{url.split('://', 1)[0]}://{shown}:{port}"


def is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def urls_equal(a: list[str], b: list[str]) -> str | None:
    """Why two sorted URL lists differ as etcd 3.4.23's netutil.URLStringsEqual sees it, or None."""
    if len(a) != len(b):
        return f"len({_go_quote_list(a)}) != len({_go_quote_list(b)})"
    if a == b:
        return None
    try:
        resolved_a, resolved_b = sorted(map(_resolved, a)), sorted(map(_resolved, b))
    except ConfigError as error:
        return str(error)
    for url_a, url_b in zip(resolved_a, resolved_b, strict=True):
        if url_a != url_b:
            return f"resolved urls: {go_quote(url_a)} != {go_quote(url_b)}"
    return None


# --- Go's flag value syntax -------------------------------------------------------------------


def _go_integer(raw: str, lowest: int, highest: int) -> int:
    """strconv.Parse(U)Int with base 0, as Go's flag package parses numbers."""
    negative, digits = False, raw
    if lowest < 0 and digits[:1] in ("+", "-"):
        negative, digits = digits[0] == "-", digits[1:]
    if not re.fullmatch(r"[0-9A-Za-z_]+", digits):
        raise FlagValueError("parse error")
    try:
        value = int(digits, 8) if re.fullmatch(r"0[0-7_]+", digits) else int(digits, 0)
    except ValueError:
        raise FlagValueError("parse error") from None
    value = -value if negative else value
    if not lowest <= value <= highest:
        raise FlagValueError("value out of range")
    return value


def go_uint(raw: str) -> int:
    return _go_integer(raw, 0, _MAX_UINT64)


def go_int64(raw: str) -> int:
    return _go_integer(raw, -MAX_INT64 - 1, MAX_INT64)


def go_bool(raw: str) -> bool:
    """strconv.ParseBool."""
    if raw in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if raw in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise FlagValueError("parse error")


def go_string(raw: str) -> str:
    return raw


def optional_path(raw: str) -> str | None:
    return raw or None


def url_list(raw: str) -> list[str]:
    return parse_urls(raw)


DURATION_UNITS_NS = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,
    "\u03bcs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_DURATION_PART = re.compile(r"([0-9]*)(?:\.([0-9]*))?([^0-9.]*)")


def parse_go_duration(text: str) -> int:
    """Go's time.ParseDuration, in nanoseconds; raises ConfigError with Go's text."""
    quoted = go_quote(text)
    body = text[1:] if text[:1] in "+-" else text
    if body == "0":
        return 0
    if not body:
        raise ConfigError(f"time: invalid duration {quoted}")
    total = 0
    while body:
        match = _DURATION_PART.match(body)
        assert match is not None  # the pattern matches the empty string
        whole, fraction, unit = match.groups()
        if not whole and not fraction:
            raise ConfigError(f"time: invalid duration {quoted}")
        if not unit:
            raise ConfigError(f"time: missing unit in duration {quoted}")
        if unit not in DURATION_UNITS_NS:
            raise ConfigError(f"time: unknown unit {go_quote(unit)} in duration {quoted}")
        scale = DURATION_UNITS_NS[unit]
        total += int(whole or "0") * scale
        if fraction:
            total += int(fraction) * scale // 10 ** len(fraction)
        body = body[match.end() :]
    if total > MAX_INT64:
        raise ConfigError(f"time: invalid duration {quoted}")
    return -total if text.startswith("-") else total
