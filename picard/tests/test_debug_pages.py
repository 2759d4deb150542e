"""Django's DEBUG pages (a 404 that lists every URL pattern, tracebacks with settings) only on
a loopback bind: `make run HOST=0.0.0.0` puts the site on the network, and then DEBUG is off
whatever the environment says (``picard.bind`` + ``picard/settings/base.py``)."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import time

import httpx
import pytest

from picard.bind import bind_host, is_loopback
from picard.testing import ROOT, free_port

URLCONF_LISTING = "Using the URLconf defined in"


@pytest.mark.parametrize(("environ", "argv", "host"), [
    ({}, ["uvicorn", "picard.asgi:application", "--host", "0.0.0.0", "--port", "8000"], "0.0.0.0"),
    ({}, ["uvicorn", "picard.asgi:application", "--host=192.168.1.5"], "192.168.1.5"),
    ({}, ["gunicorn", "-b", "[::]:8000", "picard.asgi:application"], "::"),
    ({}, ["gunicorn", "--bind=0.0.0.0:8000"], "0.0.0.0"),
    ({}, ["manage.py", "runserver", "0.0.0.0:8000"], "0.0.0.0"),
    ({}, ["manage.py", "runserver"], "127.0.0.1"),
    ({"PICARD_BIND_HOST": "0.0.0.0"}, ["uvicorn", "--host", "127.0.0.1"], "0.0.0.0"),
    ({"UVICORN_HOST": "10.0.0.2"}, ["uvicorn", "picard.asgi:application"], "10.0.0.2"),
    ({}, ["pytest", "-q"], None),
])
def test_bind_host_is_read_from_what_started_the_process(environ, argv, host):
    assert bind_host(environ=environ, argv=argv) == host


@pytest.mark.parametrize(("host", "loopback"), [
    ("127.0.0.1", True), ("127.1.2.3", True), ("::1", True), ("[::1]", True), ("localhost", True), (None, True),
    ("0.0.0.0", False), ("::", False), ("192.168.1.5", False), ("10.0.0.2", False), ("picard.example.com", False),
])
def test_only_loopback_addresses_count_as_loopback(host, loopback):
    assert is_loopback(host) is loopback


def _debug_setting(*args: str, **environ: str) -> str:
    """settings.DEBUG as a fresh process started with ``args`` computes it."""
    code = "import sys; sys.argv = sys.argv[1:]; import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "PICARD_BIND_HOST", "UVICORN_HOST", "PICARD_PRODUCTION")}
    env.update(DJANGO_SETTINGS_MODULE="picard.settings.base", **environ)
    done = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_debug_is_off_on_a_network_bind_even_when_asked_for():
    assert _debug_setting("uvicorn", "--host", "127.0.0.1") == "True"  # a newcomer's `make run`
    assert _debug_setting("uvicorn", "--host", "0.0.0.0") == "False"
    assert _debug_setting("uvicorn", "--host", "0.0.0.0", DEBUG="true") == "False"
    assert _debug_setting("uvicorn", PICARD_BIND_HOST="0.0.0.0") == "False"  # how the Makefile passes HOST


@contextlib.contextmanager
def _uvicorn(host: str, env: dict):
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "picard.asgi:application", "--host", host, "--port", str(port), "--no-access-log"],
        cwd=ROOT, env={**env, "PORT": str(port)}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"  # a 0.0.0.0 bind answers on loopback too
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, process.stdout.read().decode(errors="replace")
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "uvicorn did not start"
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def test_real_server_on_all_interfaces_never_shows_the_debug_404(transactional_db):
    """The real `uvicorn … --host 0.0.0.0` (what `make run HOST=0.0.0.0` runs), DEBUG left at
    its development default (and once even set to true): a missing page is the site's own 404;
    on 127.0.0.1 the same process setup still shows Django's DEBUG page to the developer."""
    from django.db import connection

    db = connection.settings_dict
    env = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "PICARD_BIND_HOST", "UVICORN_HOST", "PICARD_PRODUCTION")}
    env.update({
        "DJANGO_SETTINGS_MODULE": "picard.settings.base",
        "DATABASE_URL": f"postgresql://{db['USER']}@/{db['NAME']}?host={db['HOST']}",
        "PICARD_EMBEDDING_PROVIDER": "hash", "LOG_LEVEL": "WARNING",
    })
    with _uvicorn("127.0.0.1", env) as url:
        page = httpx.get(f"{url}/no-such-page")
        assert page.status_code == 404 and URLCONF_LISTING in page.text
    for extra in ({}, {"DEBUG": "true"}):
        with _uvicorn("0.0.0.0", {**env, **extra}) as url:
            page = httpx.get(f"{url}/no-such-page")
            assert page.status_code == 404
            assert URLCONF_LISTING not in page.text and "memories/" not in page.text
            bad_host = httpx.get(f"{url}/", headers={"Host": "evil.example"})
            assert bad_host.status_code == 400 and "Traceback" not in bad_host.text and "DisallowedHost" not in bad_host.text
