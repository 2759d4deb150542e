"""Whole-system suites: the site crawled and its forms fuzzed, every tool and /openapi.json
operation fuzzed, outages, several workers, the container entrypoint, the browser, and the
attacks of issue 18 replayed against the live server. Everything here carries the ``system``
marker (``make test-fast`` leaves it out; ``make test`` runs it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mcp_bridge.tests.conftest import make_token, mcp_server_factory  # noqa: F401 - fixtures
from oauth.testing import browser_for, oauth_app, public_app, token_for  # noqa: F401 - fixtures

HERE = Path(__file__).resolve().parent


def pytest_collection_modifyitems(config, items):
    for item in items:
        if HERE in Path(str(item.path)).resolve().parents:
            item.add_marker(pytest.mark.system)


@pytest.fixture
def site_world(alice, bob, carol):
    """Data with every kind of memory, for the site crawls (tests.system.sitecrawl)."""
    from tests.system.sitecrawl import build_varied_site

    return build_varied_site(alice, bob, carol)
