"""Browser tests: Debian's Chromium (driven by Playwright, never a downloaded browser) against
the real ASGI server (uvicorn) on a free loopback port, with its own fresh database.

`make test` installs Chromium when it is missing (as root, with apt-get). Set PICARD_CHROMIUM
to use another Chromium binary; set PICARD_SCREENSHOT_DIR (e.g. docs/screenshots) to keep the
screenshots the tests take (otherwise they go to a temporary folder).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.conf import settings

from picard.testing import free_port, uvicorn_with_workers

CHROMIUM = os.environ.get("PICARD_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-extensions", "--mute-audio", "--hide-scrollbars",
]
ADMIN_PASSWORD = "admin passphrase 42"


def _database_url(name: str) -> str:
    db = settings.DATABASES["default"]
    user, password, host, port = db.get("USER") or "postgres", db.get("PASSWORD") or "", db.get("HOST") or "", db.get("PORT") or ""
    if host.startswith("/"):
        return f"postgresql://{user}:{password}@/{name}?host={host}"
    return f"postgresql://{user}:{password}@{host}:{port or 5432}/{name}"


def _admin_connection():
    import psycopg

    db = settings.DATABASES["default"]
    return psycopg.connect(
        dbname="postgres", user=db.get("USER") or "postgres", password=db.get("PASSWORD") or None,
        host=db.get("HOST") or None, port=db.get("PORT") or None, autocommit=True,
    )


class LiveSite:
    def __init__(self, url: str, screenshots: Path):
        self.url = url
        self.screenshots = screenshots

    def __call__(self, path: str) -> str:
        return self.url + path


@pytest.fixture(scope="session")
def live_site(tmp_path_factory):
    name = f"picard_browser_{uuid.uuid4().hex[:8]}"
    with _admin_connection() as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "picard.settings.base",
        "DATABASE_URL": _database_url(name),
        "PICARD_PUBLIC_URL": url,
        "PORT": str(port),
        "DEBUG": "false",
        "CSRF_TRUSTED_ORIGINS": url,
        "PICARD_EMBEDDING_PROVIDER": os.environ.get("PICARD_BROWSER_EMBEDDINGS", "local"),
    }
    base = Path(settings.BASE_DIR)
    log_path = tmp_path_factory.mktemp("live") / "server.log"
    log = open(log_path, "w")
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput", "-v", "0"], cwd=base, env=env, check=True, stdout=log, stderr=log)
    subprocess.run([*manage, "collectstatic", "--noinput", "-v", "0"], cwd=base, env=env, check=True, stdout=log, stderr=log)
    subprocess.run(
        [*manage, "shell", "-c",
         "from django.contrib.auth import get_user_model as g; "
         f"g().objects.create_superuser('admin', 'admin@example.com', {ADMIN_PASSWORD!r}, display_name='Ada Admin')"],
        cwd=base, env=env, check=True, stdout=log, stderr=log,
    )
    try:
        with uvicorn_with_workers(env, workers=1, timeout=60, output=log, port=port):
            shots = Path(os.environ.get("PICARD_SCREENSHOT_DIR") or tmp_path_factory.mktemp("screenshots"))
            shots.mkdir(parents=True, exist_ok=True)
            yield LiveSite(url, shots)
    except AssertionError as failure:
        raise RuntimeError("the live server did not start:\n" + log_path.read_text()[-4000:]) from failure
    finally:
        log.close()
        with _admin_connection() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def browser():
    """Module-scoped: Playwright's sync API keeps an event loop in this thread while it
    runs, and Django refuses ORM calls from such a thread, so it must not outlive the
    browser tests."""
    if not (Path(CHROMIUM).exists() or shutil.which(CHROMIUM)):
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}. Run `make test` (it installs Debian's chromium when run as root) "
            "or `sudo apt-get install chromium`, or set PICARD_CHROMIUM.", pytrace=False,
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser):
    contexts = []

    def make(*, mobile: bool = False, timezone_id: str = "UTC"):
        options = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True} if mobile \
            else {"viewport": {"width": 1280, "height": 860}}
        context = browser.new_context(accept_downloads=True, locale="en-US", timezone_id=timezone_id, **options)
        context.set_default_timeout(15_000)
        contexts.append(context)
        return context.new_page()

    yield make
    for context in contexts:
        context.close()
