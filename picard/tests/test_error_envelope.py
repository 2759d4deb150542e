"""Failures that escape a view never leave as a traceback or an HTML 500 for an API client:
the database being away is a 503 with Retry-After, a value PostgreSQL refuses is a 400,
and a genuine bug is a generic 500 with a reference id that is also in the log."""

from __future__ import annotations

import logging

import pytest

from picard.tests.fault_urls import SECRET

pytestmark = pytest.mark.urls("picard.tests.fault_urls")


@pytest.fixture
def client(client):
    client.raise_request_exception = False
    return client


def test_a_bug_in_an_api_view_is_a_generic_json_500_with_a_logged_reference(client, caplog):
    with caplog.at_level(logging.ERROR):
        response = client.get("/api/boom")
    assert response.status_code == 500
    error = response.json()["error"]
    assert error["code"] == "server_error"
    reference = error["details"]["reference"]
    assert reference in error["message"]
    assert SECRET not in response.content.decode()
    assert "Traceback" not in response.content.decode()
    assert any(reference in record.getMessage() for record in caplog.records)


def test_a_bug_in_a_page_is_a_plain_500_page_without_details(client):
    response = client.get("/boom")
    assert response.status_code == 500
    assert response["Content-Type"].startswith("text/html")
    assert SECRET not in response.content.decode()
    assert "Traceback" not in response.content.decode()


def test_database_unavailable_is_a_503_with_retry_after(client):
    response = client.get("/api/db-gone")
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    error = response.json()["error"]
    assert error["code"] == "database_unavailable"
    assert "socket" not in error["message"]  # no internals
    page = client.get("/db-gone")
    assert page.status_code == 503
    assert page["Content-Type"].startswith("text/html")


@pytest.mark.parametrize("path", ["/api/db-refuses", "/api/nul"])
def test_values_postgresql_refuses_are_a_400(client, path):
    response = client.get(path)
    assert response.status_code == 400
    assert response.json()["status"] == "error"


def test_drf_views_map_database_outages_and_bugs_too(client):
    response = client.get("/api/drf-boom", {"kind": "db"})
    assert response.status_code == 503
    assert response["Retry-After"] == "5"
    assert response.json()["error"]["code"] == "database_unavailable"
    response = client.get("/api/drf-boom")
    assert response.status_code == 500
    assert response.json()["error"]["code"] == "server_error"
    assert SECRET not in response.content.decode()


def test_unknown_pages_are_404_pages_and_unknown_api_paths_json_404s(client):
    page = client.get("/no-such-page")
    assert page.status_code == 404
    assert page["Content-Type"].startswith("text/html")
    api = client.get("/api/no-such-endpoint")
    assert api.status_code == 404
    assert api.json()["error"]["code"] == "not_found"
