"""Test support shared by the app tests (``*/tests/``) and the whole-system tests
(``tests/system/``): a free loopback port, and the real ``uvicorn picard.asgi:application``
started as a separate process (one process or ``--workers N``) until it answers ``/healthz``;
``picard.testing.fake_openai.FakeOpenAI``: a local server speaking the OpenAI protocol (chat
completions, streamed or not, and embeddings) for the real ``openai`` client.

Imported only by tests (and ``bench/``); nothing in the running site uses it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def uvicorn_workers_of(master: int) -> list[int]:
    """uvicorn's worker processes (its children, less multiprocessing's resource tracker)."""
    workers = []
    for task in Path(f"/proc/{master}/task").iterdir():
        for pid in (task / "children").read_text().split():
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                workers.append(int(pid))
    return workers


def uvicorn_process(env: dict, *, port: int, workers: int = 1, output=subprocess.PIPE) -> subprocess.Popen:
    """Start ``uvicorn picard.asgi:application`` on 127.0.0.1:``port`` and return at once (for a
    test that expects the server to refuse to start, or waits for it itself); its own
    session, so a SIGKILL to its process group stops its workers too."""
    url = f"http://127.0.0.1:{port}"
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "picard.asgi:application", "--host", "127.0.0.1", "--port", str(port),
         "--workers", str(workers), "--no-access-log", "--no-server-header"],
        cwd=ROOT, env={**env, "PORT": str(port), "PICARD_PUBLIC_URL": url}, stdout=output, stderr=subprocess.STDOUT,
        start_new_session=True,
    )


@contextlib.contextmanager
def uvicorn_with_workers(env: dict, *, workers: int = 2, timeout: float = 120, output=subprocess.PIPE, port: int | None = None):
    """A real ``uvicorn picard.asgi:application --workers N`` on a free loopback port: yields
    ``(process, url)`` once it answers ``/healthz`` with all its workers running. Stopped
    with one SIGTERM to the main process (as ``docker stop`` does), which stops its workers.
    ``workers=1``: uvicorn's single process serves (no worker processes). ``output``: where
    its log goes (a file for a noisy server: nobody reads the pipe while the test runs, and
    a full pipe blocks every thread that logs). ``port``: when ``env`` already names the URL."""
    port = port or free_port()
    url = f"http://127.0.0.1:{port}"
    process = uvicorn_process(env, port=port, workers=workers, output=output)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert process.poll() is None, process.stdout.read().decode(errors="replace") if process.stdout else "uvicorn exited"
            try:
                if httpx.get(f"{url}/healthz", timeout=2).status_code == 200 and (workers == 1 or len(uvicorn_workers_of(process.pid)) == workers):
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        else:
            raise AssertionError(f"uvicorn --workers {workers} did not come up")
        yield process, url
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
