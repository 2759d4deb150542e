"""Schemathesis fuzzes every operation in /openapi.json against the live server: never a 5xx.

For each operation the test sends schema-valid requests (positive) and schema-violating
ones (negative: wrong types, missing fields, out-of-range values) with a bearer token that
carries every scope (a staff user's, so the admin endpoints are reached too), plus a few
requests with no credentials at all. Generation is derandomized, so a run is reproducible;
the counts are sized for ≥ 1000 requests in well under a minute (docs/security.md).
"""

from __future__ import annotations

import httpx
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hsettings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

ALL_SCOPES = "memories:read memories:write memories:admin"
# Examples per operation: (mode, with the token?, how many). 22 operations → ≥ 1000 requests.
RUNS = (
    (GenerationMode.POSITIVE, True, 30),
    (GenerationMode.NEGATIVE, True, 20),
    (GenerationMode.POSITIVE, False, 6),
)
MIN_REQUESTS = 1000


def _fuzz_operation(operation, *, base_url, session, headers, mode, examples, sent, failures, path_parameters=None):
    @hsettings(
        max_examples=examples, derandomize=True, database=None, deadline=None,
        suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate],
    )
    @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path_parameters))
    def run(case):
        response = case.call(base_url=base_url, session=session, headers=headers, timeout=30)
        sent.append(response.status_code)
        if response.status_code >= 500:
            failures.append(f"{response.status_code} {case.as_curl_command(headers=headers)}\n  -> {response.text[:300]}")

    try:
        run()
    except Unsatisfiable:  # nothing in this operation can be made invalid (no parameters, no body)
        assert mode is GenerationMode.NEGATIVE, operation.label


@pytest.mark.django_db(transaction=True)
def test_every_openapi_operation_answers_fuzzed_requests_without_a_server_error(mcp_server_factory, make_user, make_token, settings):
    settings.PICARD_RATE_LIMITS = {  # the limits have their own tests; here every request must reach the app
        name: {**rule, "rate": "100000/60"} for name, rule in settings.PICARD_RATE_LIMITS.items()
    }
    mcp_server = mcp_server_factory()
    admin = make_user("fuzz-admin", is_staff=True, is_superuser=True)
    token = make_token(admin, scope=ALL_SCOPES, resource=[])  # not bound to /mcp: valid for the REST API
    raw = httpx.get(f"{mcp_server.url}/openapi.json").json()
    schema = schemathesis.openapi.from_dict(raw)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 22, [op.label for op in operations]
    # RFC 7592 management of a dynamically registered client takes that client's own
    # registration access token; schema-valid calls name that client.
    registered = httpx.post(f"{mcp_server.url}/oauth/register", json={
        "client_name": "fuzzed", "redirect_uris": ["http://127.0.0.1:9/cb"], "token_endpoint_auth_method": "none"}).json()

    sent: list[int] = []
    failures: list[str] = []
    with requests.Session() as session:
        for operation in operations:
            dcr = operation.path.startswith("/oauth/register/")
            for mode, with_token, examples in RUNS:
                bearer = registered["registration_access_token"] if dcr else token
                headers = {"Authorization": f"Bearer {bearer}"} if with_token else {}
                fixed = {"client_id": registered["client_id"]} if dcr and with_token and mode is GenerationMode.POSITIVE else None
                _fuzz_operation(operation, base_url=mcp_server.url, session=session, headers=headers, mode=mode,
                                examples=examples, sent=sent, failures=failures, path_parameters=fixed)
    assert not failures, f"{len(failures)} of {len(sent)} requests got a 5xx:\n" + "\n".join(failures[:20])
    assert len(sent) >= MIN_REQUESTS, len(sent)
    statuses = {code: sent.count(code) for code in sorted(set(sent))}
    print(f"schemathesis: {len(sent)} requests over {len(operations)} operations, no 5xx; statuses {statuses}")
