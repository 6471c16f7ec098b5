"""What every connector test shares: a guard that fails the test when anything tries to reach a
host other than this machine's loopback (a name resolved, or a socket connected to an address),
so no test can talk to a real platform by accident."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any

import pytest

_LOCAL_NAMES = {"localhost", "127.0.0.1", "::1"}


def _is_loopback(host: object) -> bool:
    if not isinstance(host, str):
        return False
    if host in _LOCAL_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


class NetworkLog(list[str]):
    """Every host a test resolved or connected to, in order."""

    def outside(self) -> list[str]:
        return [host for host in self if not _is_loopback(host)]


@pytest.fixture(autouse=True)
def only_local_network(monkeypatch: pytest.MonkeyPatch) -> Iterator[NetworkLog]:
    """Refuses (with OSError, as an unreachable network would) and records every attempt to
    resolve or connect to a non-loopback host; the test fails afterwards if there was one,
    unless it took the list and cleared it (a test that checks where requests would go)."""
    seen = NetworkLog()
    real_getaddrinfo = socket.getaddrinfo
    real_connect = socket.socket.connect
    real_connect_ex = socket.socket.connect_ex

    def getaddrinfo(host: Any, *args: Any, **kwargs: Any) -> Any:
        seen.append(str(host))
        if not _is_loopback(str(host)):
            raise OSError(f"connector test tried to reach {host} (only 127.0.0.1 is allowed)")
        return real_getaddrinfo(host, *args, **kwargs)

    def check(sock: socket.socket, address: Any) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            host = str(address[0])
            seen.append(host)
            if not _is_loopback(host):
                raise OSError(f"connector test tried to connect to {host}")

    def connect(sock: socket.socket, address: Any) -> None:
        check(sock, address)
        real_connect(sock, address)

    def connect_ex(sock: socket.socket, address: Any) -> int:
        check(sock, address)
        return real_connect_ex(sock, address)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket.socket, "connect_ex", connect_ex)
    yield seen
    assert not seen.outside(), f"the test tried to reach {seen.outside()}"
