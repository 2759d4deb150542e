"""Deployment files, checked with what runs here (no Docker engine on this machine): the
production settings pass Django's deploy checks and send the security headers, and the
container entrypoint works outside Docker against the embedded database."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.conf import settings

from picard.testing import free_port

ROOT = Path(settings.BASE_DIR)
PYTHON = sys.executable


def _production_env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PICARD_", "DJANGO_", "DATABASE_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="picard.settings.production",
        SECRET_KEY="x" * 60 + "production-test-only-9f8e7d",
        PICARD_ENCRYPTION_KEYS=Fernet.generate_key().decode(),
        PICARD_TERM_HASH_KEY="term-hash-test-key",
        DATABASE_URL="postgres://nobody:nothing@127.0.0.1:1/picard",  # never reached by these checks
        PICARD_PUBLIC_URL="https://picard.example.com",
        ALLOWED_HOSTS="picard.example.com",
        EMAIL_URL="smtp+tls://mailer:pw@127.0.0.1:1",  # never reached by these checks
    )
    env.update(extra)
    return env


def test_production_settings_pass_djangos_deploy_checks():
    result = subprocess.run(
        [PYTHON, "manage.py", "check", "--deploy", "--fail-level", "ERROR"],
        cwd=ROOT, env=_production_env(), capture_output=True, text=True, timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # Django's own security checks (HTTPS, HSTS, cookies, SECRET_KEY, DEBUG, hosts) are all
    # satisfied; the OAuth provider's RFC 9700 advisories belong to the OAuth settings.
    assert "(security." not in output, output


def test_production_responses_carry_hsts_csp_and_secure_cookies_settings():
    script = (
        "import django; django.setup()\n"
        "from django.conf import settings as s\n"
        "from django.test import Client\n"
        "r = Client().get('/healthz', secure=True, HTTP_HOST='picard.example.com')\n"
        "print('HSTS', r.headers.get('Strict-Transport-Security'))\n"
        "print('CSP', r.headers.get('Content-Security-Policy'))\n"
        "print('COOKIES', s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.DEBUG)\n"
        "print('HOSTS', s.ALLOWED_HOSTS)\n"
        "r = Client().get('/healthz', HTTP_HOST='picard.example.com')\n"
        "print('PLAIN', r.status_code)\n"
        "r = Client().get('/', HTTP_HOST='picard.example.com')\n"
        "print('REDIRECT', r.status_code, r.headers.get('Location'))\n"
    )
    result = subprocess.run([PYTHON, "-c", script], cwd=ROOT, env=_production_env(), capture_output=True, text=True, timeout=120)
    out = result.stdout
    assert result.returncode == 0, out + result.stderr
    assert "HSTS max-age=31536000; includeSubDomains" in out
    csp_line = next(line for line in out.splitlines() if line.startswith("CSP "))[4:]
    policy = {d.split(" ", 1)[0]: d.split(" ", 1)[1] for d in (part.strip() for part in csp_line.split(";")) if d}
    assert policy["default-src"] == "'self'" and policy["script-src"] == "'self'"
    assert policy["frame-ancestors"] == "'none'" and policy["object-src"] == "'none'"
    assert "COOKIES True True False" in out
    assert "'picard.example.com'" in out
    assert "REDIRECT 301 https://picard.example.com/" in out
    assert "PLAIN 503" in out or "PLAIN 200" in out  # /healthz is exempt from the https redirect


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"SECRET_KEY": ""}, "SECRET_KEY is not set"),
        ({"DATABASE_URL": ""}, "DATABASE_URL is not set"),
    ],
)
def test_production_refuses_to_start_without_what_it_needs(override, message):
    result = subprocess.run(
        [PYTHON, "manage.py", "check"], cwd=ROOT, env=_production_env(**override), capture_output=True, text=True, timeout=120,
    )
    assert result.returncode != 0
    assert message in result.stderr


def test_container_entrypoint_works_outside_docker():
    """docker/entrypoint.sh web: migrate, ensure the admin, serve; healthcheck.py passes;
    `maintenance` and `manage` work — against a fresh embedded database."""
    data_dir = ROOT / "var" / f"entrypoint-test-{uuid.uuid4().hex[:8]}"
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PICARD_", "DJANGO_", "DATABASE_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="picard.settings.base", PICARD_DATA_DIR=str(data_dir), PORT=str(port), HOST="127.0.0.1",
        WEB_CONCURRENCY="1", PYTHON=PYTHON, PICARD_ADMIN_USERNAME="ops", PICARD_ADMIN_PASSWORD="entrypoint test passphrase 1",
        PICARD_EMBEDDING_PROVIDER="hash", PICARD_EMBEDDING_DIMENSIONS="64", LOG_FORMAT="json",
    )
    entrypoint = str(ROOT / "docker" / "entrypoint.sh")
    server = subprocess.Popen([entrypoint, "web"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline, status, headers = time.time() + 180, None, {}
        while time.time() < deadline and server.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=3) as response:
                    status, headers = response.status, dict(response.headers)
                    break
            except OSError:
                time.sleep(0.5)
        assert status == 200, f"server did not become healthy (exit {server.poll()})"
        assert len(headers.get("x-request-id", "")) == 16
        health = subprocess.run([PYTHON, str(ROOT / "docker" / "healthcheck.py")], env=env, capture_output=True, text=True, timeout=30)
        assert health.returncode == 0, health.stderr
        stats = subprocess.run([entrypoint, "manage", "stats", "--json"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert stats.returncode == 0, stats.stderr
        assert '"staff": 1' in stats.stdout
        maintenance = subprocess.run([entrypoint, "maintenance"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
        assert maintenance.returncode == 0, maintenance.stderr
        assert "Deleted 0 expired memories" in maintenance.stdout
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            output, _ = server.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            output, _ = server.communicate()
        shutil.rmtree(data_dir, ignore_errors=True)
    assert "Created superuser 'ops'" in output
    assert '"logger": "picard.request"' not in output or '"request_id"' in output
    assert server.returncode in (0, -signal.SIGTERM), output[-3000:]
