"""Which address this process serves on, so that Django's DEBUG pages (a 404 that lists every
URL, tracebacks with local variables) are only ever shown on a loopback bind.

``make run HOST=0.0.0.0`` puts the site on the network; the settings must not then leave
DEBUG on just because PICARD_PRODUCTION is unset. Settings are read before the server has a
socket, so the bind comes from what started the process: ``PICARD_BIND_HOST`` (the Makefile
sets it), uvicorn's ``UVICORN_HOST``, or the command line — ``--host`` (uvicorn), ``--bind``/
``-b`` (gunicorn), ``runserver``'s address. Worker processes spawned by uvicorn get the same
``sys.argv``. With none of them (tests, management commands) there is no listening socket:
``None``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence


def _split_host(address: str) -> str:
    """``host``, ``host:port``, ``[v6]:port``, ``unix:/path`` → the host part."""
    address = address.strip()
    if address.startswith("unix:") or address.startswith("fd://"):
        return "unix"
    if address.startswith("["):
        return address[1 : address.find("]")] if "]" in address else address[1:]
    if address.count(":") == 1:
        return address.split(":", 1)[0]
    return address  # a bare IPv6 address or a host name


def bind_host(*, environ: Mapping[str, str], argv: Sequence[str]) -> str | None:
    """The host this process binds to, from the environment or its command line."""
    for name in ("PICARD_BIND_HOST", "UVICORN_HOST"):
        if environ.get(name, "").strip():
            return environ[name].strip()
    args = list(argv)
    for i, arg in enumerate(args):
        for flag in ("--host", "--bind", "-b"):
            if arg == flag and i + 1 < len(args):
                return _split_host(args[i + 1])
            if arg.startswith(flag + "=") and flag.startswith("--"):
                return _split_host(arg.split("=", 1)[1])
        if arg == "runserver":
            rest = [a for a in args[i + 1 :] if not a.startswith("-")]
            return _split_host(rest[0]) if rest else "127.0.0.1"  # runserver's default
    return None


def is_loopback(host: str | None) -> bool:
    """True for 127.0.0.0/8, ::1 and "localhost"; False for 0.0.0.0, ::, LAN addresses, names."""
    if host is None:
        return True  # no listening socket (tests, commands)
    host = host.strip().strip("[]").lower()
    if host == "localhost":
        return True
    if host == "unix":
        return True  # a Unix socket is not on the network (a proxy in front decides)
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
