import pytest
from django.contrib.auth.models import Permission as AuthPermission
from django.urls import reverse
from oauth2_provider.models import get_application_model

from memories import services
from memories.models import Activity, Memory

pytestmark = pytest.mark.django_db

TEXT = "the spare key is under the third flowerpot"


@pytest.fixture
def memory(alice):
    return services.memory_create(actor=alice, text=TEXT, tags=["home"])


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser(username="root", email="root@example.com", password="x")


@pytest.fixture
def staff_viewer(make_user):
    user = make_user("helpdesk", is_staff=True)
    user.user_permissions.add(*AuthPermission.objects.filter(codename__in=["view_memory", "view_activity", "view_user"]))
    return user


def test_superuser_sees_decrypted_text_only_on_the_change_page_and_it_is_logged(client, superuser, memory):
    client.force_login(superuser)
    listing = client.get(reverse("admin:memories_memory_changelist"))
    assert listing.status_code == 200 and str(memory.id) in listing.text and TEXT not in listing.text
    page = client.get(reverse("admin:memories_memory_change", args=[memory.id]))
    assert page.status_code == 200 and TEXT in page.text
    assert memory.text_encrypted not in page.text
    entry = Activity.objects.get(action="admin.memory.view")
    assert entry.actor == superuser and entry.memory_ids == [memory.id] and TEXT not in str(entry.details)


def test_staff_without_superuser_never_sees_text(client, staff_viewer, memory):
    client.force_login(staff_viewer)
    page = client.get(reverse("admin:memories_memory_change", args=[memory.id]))
    assert page.status_code == 200
    assert TEXT not in page.text and "home" in page.text
    assert not Activity.objects.filter(action="admin.memory.view").exists()


def test_memories_are_read_only_but_deletion_is_logged(client, superuser, memory):
    client.force_login(superuser)
    assert client.get(reverse("admin:memories_memory_add")).status_code == 403
    client.post(reverse("admin:memories_memory_change", args=[memory.id]), {"permission": "public"})
    assert Memory.objects.get(id=memory.id).permission == "private"
    response = client.post(reverse("admin:memories_memory_delete", args=[memory.id]), {"post": "yes"})
    assert response.status_code == 302 and not Memory.objects.filter(id=memory.id).exists()
    assert Activity.objects.filter(action="admin.memory.delete", memory_ids=[memory.id]).exists()


def test_admin_lists_users_activity_and_oauth_clients(client, superuser, memory, alice):
    get_application_model().objects.create(
        name="Claude", client_type="public", authorization_grant_type="authorization-code", redirect_uris="http://127.0.0.1/cb",
    )
    client.force_login(superuser)
    for name in ["admin:picard_user_changelist", "admin:memories_activity_changelist",
                 "admin:oauth2_provider_application_changelist", "admin:memories_embeddingstate_changelist"]:
        response = client.get(reverse(name))
        assert response.status_code == 200, name
        assert TEXT not in response.text
    assert "Claude" in client.get(reverse("admin:oauth2_provider_application_changelist")).text
    assert client.get(reverse("admin:picard_user_change", args=[alice.id])).status_code == 200
    entry = Activity.objects.filter(action="memory.create").first()
    assert client.get(reverse("admin:memories_activity_change", args=[entry.id])).status_code == 200
