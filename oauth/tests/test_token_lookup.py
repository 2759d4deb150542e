"""The bearer-token lookup (oauth.validators.PicardOAuth2Validator._load_access_token) is one
hand-written statement; it must build exactly the objects DOT's ORM lookup builds."""

from datetime import timedelta

import pytest
from django.utils import timezone
from oauth2_provider.models import get_access_token_model, get_application_model

from oauth.models import ClientPolicy
from oauth.validators import PicardOAuth2Validator

pytestmark = pytest.mark.django_db


def _fields(instance) -> dict:
    return {field.attname: getattr(instance, field.attname) for field in type(instance)._meta.concrete_fields}


@pytest.fixture
def application(alice):
    return get_application_model().objects.create(
        name="Lookup", user=alice, client_type="public", authorization_grant_type="authorization-code",
        redirect_uris="https://client.example.com/cb",
    )


def _token(user, application, raw: str, **extra):
    return get_access_token_model().objects.create(
        user=user, application=application, token=raw, scope="memories:read", resource=["https://picard.example.com/mcp"],
        expires=timezone.now() + timedelta(hours=1), **extra,
    )


def test_the_lookup_builds_the_token_its_application_and_user_like_the_orm(alice, application):
    _token(alice, application, "raw-token-1")
    loaded = PicardOAuth2Validator()._load_access_token("raw-token-1")
    expected = get_access_token_model().objects.select_related("application", "user").get(token="raw-token-1")
    assert _fields(loaded) == _fields(expected)
    assert _fields(loaded.application) == _fields(expected.application)
    assert _fields(loaded.user) == _fields(expected.user)
    assert loaded.is_valid(["memories:read"]) and not loaded.is_valid(["memories:write"])
    assert loaded.allows_audience("https://picard.example.com/mcp")
    assert loaded.picard_client_disabled is False


def test_the_lookup_reads_the_clients_disabled_flag_and_tokens_without_a_user(application):
    _token(None, application, "raw-token-2")
    ClientPolicy.objects.create(application=application, disabled=True)
    loaded = PicardOAuth2Validator()._load_access_token("raw-token-2")
    assert loaded.user is None and loaded.application == application
    assert loaded.picard_client_disabled is True


def test_an_unknown_token_is_none(alice, application):
    _token(alice, application, "raw-token-3")
    assert PicardOAuth2Validator()._load_access_token("raw-token-4") is None
