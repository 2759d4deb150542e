"""Django admin speaks English: every model of Picard's apps has a hand-written plural
("Activities", "Memories"), never Django's default of the name plus "s" ("Activitys")."""

from __future__ import annotations

import re

import pytest
from django.apps import apps

PICARD_APPS = ("memories", "personas", "oauth", "picard")


def test_every_picard_model_names_its_plural():
    for model in apps.get_models():
        if model._meta.app_label in PICARD_APPS:
            assert "verbose_name_plural" in model._meta.original_attrs, f"{model.__name__} has no verbose_name_plural"


@pytest.mark.django_db
def test_admin_index_has_no_made_up_plurals(client, make_user):
    admin = make_user("root", is_staff=True, is_superuser=True)
    client.force_login(admin)
    html = client.get("/admin/").content.decode()
    assert "Activities" in html and "Memories" in html
    assert re.findall(r"\w+ys\b", html) == []  # Activitys, Memorys, Policys …
