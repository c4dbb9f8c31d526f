"""Address ranges, by arithmetic: whether a set of CIDRs lets the whole internet in, however it is
split (`0.0.0.0/1` + `128.0.0.0/1` is `0.0.0.0/0`), for the config checks and the policy pack.

"The internet" is every public address: the whole space less the special-purpose blocks that no
internet host uses (private, shared, loopback, link-local, documentation, multicast, reserved).
A set of ranges that covers all of it is open, whatever private ranges it also holds or leaves out.
Ref: https://www.iana.org/assignments/iana-ipv4-special-registry (RFC 6890),
https://www.iana.org/assignments/iana-ipv6-special-registry
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Iterable, Union

Network = Union[ipaddress.IPv4Network, ipaddress.IPv6Network]

_NOT_INTERNET_V4 = (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16", "172.16.0.0/12",
    "192.0.0.0/24", "192.0.2.0/24", "192.168.0.0/16", "198.18.0.0/15", "198.51.100.0/24", "203.0.113.0/24",
    "224.0.0.0/4", "240.0.0.0/4",
)
# IPv6's global unicast space is 2000::/3; within it, documentation and the other special blocks.
_INTERNET_V6 = "2000::/3"
_NOT_INTERNET_V6 = ("2001:db8::/32", "2001::/23", "2002::/16")


def parse(cidrs: Iterable[str]) -> list[Network]:
    """The ranges as networks (host bits must be zero); ValueError names the first that is not one."""
    out: list[Network] = []
    for text in cidrs:
        try:
            out.append(ipaddress.ip_network(str(text).strip(), strict=True))
        except ValueError as err:
            raise ValueError(f"'{text}' is not a CIDR range ({err})") from None
    return out


def _subtract(pool: list[Network], removed: Network) -> list[Network]:
    left: list[Network] = []
    for block in pool:
        if block.version != removed.version or not block.overlaps(removed):
            left.append(block)
        elif removed.supernet_of(block):  # type: ignore[arg-type]
            continue
        else:
            left.extend(block.address_exclude(removed))  # type: ignore[arg-type]
    return left


@lru_cache(maxsize=None)
def _internet(version: int) -> tuple[Network, ...]:
    holes: tuple[str, ...]
    if version == 4:
        pool: list[Network] = [ipaddress.ip_network("0.0.0.0/0")]
        holes = _NOT_INTERNET_V4
    else:
        pool = [ipaddress.ip_network(_INTERNET_V6)]
        holes = _NOT_INTERNET_V6
    for hole in holes:
        pool = _subtract(pool, ipaddress.ip_network(hole))
    return tuple(pool)


def uncovered_internet(cidrs: Iterable[str], version: int = 4) -> list[Network]:
    """The public ranges of IP `version` that none of `cidrs` covers (empty: all of it is let in)."""
    pool = list(_internet(version))
    for network in parse(cidrs):
        if network.version == version:
            pool = _subtract(pool, network)
            if not pool:
                break
    return pool


def lets_in_the_internet(cidrs: Iterable[str]) -> bool:
    """True when the ranges together cover every public IPv4 or every public IPv6 address."""
    ranges = [str(c) for c in cidrs]
    return not uncovered_internet(ranges, 4) or not uncovered_internet(ranges, 6)


def describe_open(cidrs: Iterable[str]) -> str:
    """How the ranges open up: their union, for a one-line message."""
    networks = parse(cidrs)
    v4 = ipaddress.collapse_addresses(n for n in networks if isinstance(n, ipaddress.IPv4Network))
    v6 = ipaddress.collapse_addresses(n for n in networks if isinstance(n, ipaddress.IPv6Network))
    return ", ".join(str(n) for n in [*v4, *v6]) or "nothing"
