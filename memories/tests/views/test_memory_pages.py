import re
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from memories import services
from memories.models import Activity, Memory
from personas.services import persona_update

pytestmark = pytest.mark.django_db


def _form(**overrides):
    data = {"text": "A memory", "tags": "", "permission": "private", "share_users": "", "expires_at": "", "metadata": ""}
    data.update(overrides)
    return data


def test_pages_need_a_signed_in_user(client):
    for path in ("/memories/", "/memories/new", "/activity", "/account/settings"):
        response = client.get(path)
        assert response.status_code == 302 and response["Location"].startswith("/login?next=")


def test_create_memory_renders_markdown_safely(client, alice):
    client.force_login(alice)
    text = (
        "**Bold** idea with [a link](https://example.com)\n\n<script>alert('x')</script>\n\n"
        "[click](javascript:alert(1)) <img src=x onerror=alert(1)> ![pic](javascript:alert(2))"
    )
    response = client.post("/memories/new", _form(text=text, tags="Work, ideas"))
    assert response.status_code == 302
    memory = Memory.objects.get(owner=alice)
    assert memory.text == text and memory.tags == ["work", "ideas"]
    html = client.get(response["Location"]).content.decode()
    body = html.split('class="memory-text">', 1)[1].split("</div>", 1)[0]
    assert "<strong>Bold</strong>" in body
    assert 'href="https://example.com"' in body and 'rel="noopener noreferrer nofollow"' in body
    assert "<script" not in body and "&lt;script&gt;" in body
    assert "javascript:" not in body.replace("&lt;", "")  or 'href="javascript' not in body
    assert 'href="javascript' not in body and 'src="javascript' not in body
    assert "onerror=" not in body.replace("&lt;img src=x onerror=alert(1)&gt;", "")


def test_form_errors_are_inline_and_nothing_is_saved(client, alice):
    client.force_login(alice)
    past = (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = client.post("/memories/new", _form(text="   ", tags="ok, bad!tag", expires_at=past, metadata="{not json"))
    assert response.status_code == 400
    html = response.content.decode()
    assert "Must not be empty" in html
    assert "Must be in the future" in html
    assert "This is not valid JSON" in html
    assert "is invalid" in html  # the tag
    assert Memory.objects.count() == 0


def test_sharing_with_an_unknown_user_is_a_field_error(client, alice):
    client.force_login(alice)
    response = client.post("/memories/new", _form(permission="shared", share_users="nobody-like-this"))
    assert response.status_code == 400
    assert "No user &#x27;nobody-like-this&#x27;" in response.content.decode()
    assert Memory.objects.count() == 0


def test_share_with_a_user_and_a_group(client, alice, bob, carol):
    team = Group.objects.create(name="team")
    carol.groups.add(team)
    client.force_login(alice)
    response = client.post("/memories/new", {**_form(text="Team lunch on Friday", permission="shared", share_users="bob"), "share_groups": ["team"]})
    assert response.status_code == 302
    client.force_login(bob)
    assert "Team lunch on Friday" in client.get("/memories/?whose=all").content.decode()
    client.force_login(carol)
    assert "Team lunch on Friday" in client.get("/memories/?whose=all").content.decode()
    # alice takes it back
    memory = Memory.objects.get(owner=alice)
    client.force_login(alice)
    edit = client.post(f"/memories/{memory.id}/edit", {**_form(text="Team lunch on Friday", permission="private"), "version": memory.version})
    assert edit.status_code == 302
    client.force_login(bob)
    assert "Team lunch on Friday" not in client.get("/memories/?whose=all").content.decode()


def test_search_everyone_s_memories_from_the_list_page(client, alice, bob):
    """A search with "whose: everyone" and no other filter (the plain-SQL visibility rule,
    with request.user as the actor) finds visible memories of others and nothing private."""
    services.memory_create(actor=alice, text="My own Lisbon flight notes")
    services.memory_create(actor=bob, text="Bob's public Lisbon flight tips", permission="public")
    services.memory_create(actor=bob, text="Bob's private Lisbon flight diary")
    client.force_login(alice)
    for mode in ("", "&mode=keyword", "&mode=semantic"):
        response = client.get(f"/memories/?q=Lisbon+flight&whose=all{mode}")
        html = response.content.decode()
        assert response.status_code == 200, mode
        assert "My own Lisbon flight notes" in html and "public Lisbon flight tips" in html, mode
        assert "private Lisbon flight diary" not in html, mode


def test_search_keyword_tag_and_date_filters(client, alice):
    services.memory_create(actor=alice, text="We booked a flight to Lisbon in May", tags=["travel"])
    services.memory_create(actor=alice, text="Buy oat milk and coffee beans", tags=["shopping"])
    client.force_login(alice)
    html = client.get("/memories/?q=flight+to+Lisbon").content.decode()
    assert "Results for “flight to Lisbon”" in html and html.index("Lisbon") < html.index("oat milk") if "oat milk" in html else True
    assert "relevance " in html
    html = client.get("/memories/?q=oat&mode=keyword").content.decode()
    assert "oat milk" in html and "Lisbon" not in html
    assert client.get("/memories/?q=oat&mode=telepathy").status_code == 400
    html = client.get("/memories/?kw=oat").content.decode()
    assert "oat milk" in html and "Lisbon" not in html
    html = client.get("/memories/?tags=travel").content.decode()
    assert "Lisbon" in html and "oat milk" not in html
    tomorrow = (timezone.now() + timedelta(days=1)).date().isoformat()
    html = client.get(f"/memories/?created_from={tomorrow}").content.decode()
    assert "Lisbon" not in html and "Nothing found" in html


def test_bad_filter_input_gives_400_with_messages_not_500(client, alice):
    client.force_login(alice)
    response = client.get("/memories/?created_from=yesterday&sort=sideways&permission=all&tags=%00")
    assert response.status_code == 400
    html = response.content.decode()
    assert "Enter a valid date" in html and "Select a valid choice" in html
    assert client.get("/memories/?cursor=garbage").status_code == 302
    assert client.get("/memories/?page=abc&q=x").status_code == 200
    assert client.get("/activity?cursor=not-a-cursor").status_code == 400


def test_pagination_walks_every_memory_once(client, alice):
    for i in range(45):
        services.memory_create(actor=alice, text=f"note number {i:02d}")
    client.force_login(alice)
    seen, url = [], "/memories/?sort=oldest"
    while url:
        html = client.get(url).content.decode()
        seen += re.findall(r"note number (\d\d)", html)
        nxt = re.search(r'href="(\?[^"]*cursor=[^"]+)" rel="next"', html)
        url = "/memories/" + nxt.group(1).replace("&amp;", "&") if nxt else None
    assert seen == [f"{i:02d}" for i in range(45)]


def test_other_users_private_memory_is_not_found_and_public_is_read_only(client, alice, bob):
    private = services.memory_create(actor=bob, text="bob's secret", permission="private")
    public = services.memory_create(actor=bob, text="bob's public note", permission="public")
    client.force_login(alice)
    assert client.get(f"/memories/{private.id}/").status_code == 404
    missing = client.get("/memories/00000000-0000-4000-8000-000000000000/")
    assert missing.status_code == 404
    assert client.get(f"/memories/{private.id}/edit").status_code == 404
    assert client.get(f"/memories/{public.id}/").status_code == 200
    assert client.get(f"/memories/{public.id}/edit").status_code == 403
    assert client.post(f"/memories/{public.id}/delete").status_code == 403
    assert Memory.objects.filter(id=public.id).exists()


def test_edit_with_stale_version_reports_a_conflict(client, alice):
    memory = services.memory_create(actor=alice, text="v1")
    services.memory_update(actor=alice, memory_id=memory.id, text="v2 from elsewhere")
    client.force_login(alice)
    response = client.post(f"/memories/{memory.id}/edit", {**_form(text="v3"), "version": 1})
    page = response.content.decode()
    assert response.status_code == 409 and "changed while you were editing" in page
    assert "v2 from elsewhere" in page and "v3" in page and "Keep mine" in page and "Keep theirs" in page and "Merge by hand" in page
    assert Memory.objects.get(id=memory.id).text == "v2 from elsewhere"
    # Pressing Save again on the stale form is still a conflict: nothing is overwritten.
    again = client.post(f"/memories/{memory.id}/edit", {**_form(text="v3"), "version": 1})
    assert again.status_code == 409 and Memory.objects.get(id=memory.id).text == "v2 from elsewhere"
    # "Keep mine" posts at the current version: an explicit choice, so it saves.
    mine = client.post(f"/memories/{memory.id}/edit", {**_form(text="v3"), "version": 2, "resolution": "mine"})
    assert mine.status_code == 302 and Memory.objects.get(id=memory.id).text == "v3"


def test_keep_mine_on_the_conflict_screen_reads_the_expiry_in_the_zone_it_was_typed_in(client, alice):
    """The conflict screen re-posts the typed expiry: it carries the zone the edit form was
    shown in too, so "Keep mine" stores the moment the person meant (09:00 Tokyo = 00:00 UTC)."""
    memory = services.memory_create(actor=alice, text="v1")
    services.memory_update(actor=alice, memory_id=memory.id, text="v2 from elsewhere")
    client.force_login(alice)
    stale = {**_form(text="v3", expires_at="2031-01-01T09:00"), "time_zone": "Asia/Tokyo", "version": 1}
    page = client.post(f"/memories/{memory.id}/edit", stale).content.decode()
    mine_form = page[page.index("data-mine"):page.index('value="mine"')]
    fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', mine_form))
    assert fields["time_zone"] == "Asia/Tokyo" and fields["expires_at"] == "2031-01-01T09:00"
    kept = client.post(f"/memories/{memory.id}/edit", {**fields, "resolution": "mine"})
    assert kept.status_code == 302
    saved = Memory.objects.get(id=memory.id)
    assert saved.text == "v3" and saved.expires_at == datetime(2031, 1, 1, 0, 0, tzinfo=UTC)


def test_delete_asks_for_confirmation(client, alice):
    memory = services.memory_create(actor=alice, text="to be deleted")
    client.force_login(alice)
    page = client.get(f"/memories/{memory.id}/delete")
    assert page.status_code == 200 and "moves to the trash" in page.content.decode()
    assert client.post(f"/memories/{memory.id}/delete").status_code == 302
    assert Memory.objects.get(id=memory.id).trashed_at is not None
    assert client.get(f"/memories/{memory.id}/").status_code == 404


def test_bulk_permission_tag_and_delete(client, alice, bob):
    mine = [services.memory_create(actor=alice, text=f"m{i}") for i in range(3)]
    theirs = services.memory_create(actor=bob, text="not yours", permission="public")
    client.force_login(alice)
    ids = [str(m.id) for m in mine] + [str(theirs.id)]
    response = client.post("/memories/bulk", {"ids": ids, "action": "make_public", "next": "/memories/"}, follow=True)
    assert "Made public 3 memories" in response.content.decode()
    assert set(Memory.objects.filter(owner=alice).values_list("permission", flat=True)) == {"public"}
    assert Memory.objects.get(id=theirs.id).permission == "public"
    client.post("/memories/bulk", {"ids": ids[:2], "action": "add_tag", "tag": "Later"})
    assert sorted(len(m.tags) for m in Memory.objects.filter(owner=alice)) == [0, 1, 1]
    missing_tag = client.post("/memories/bulk", {"ids": ids[:2], "action": "add_tag", "tag": ""}, follow=True)
    assert "Type the tag to add or remove" in missing_tag.content.decode()
    nothing = client.post("/memories/bulk", {"action": "delete"}, follow=True)
    assert "Select at least one memory first" in nothing.content.decode()
    confirm = client.post("/memories/bulk", {"ids": ids, "action": "delete"})
    assert confirm.status_code == 200 and "Delete 3 memories?" in confirm.content.decode()
    assert Memory.objects.not_trashed().filter(owner=alice).count() == 3
    client.post("/memories/bulk", {"ids": ids, "action": "delete", "confirm": "1"})
    assert Memory.objects.not_trashed().filter(owner=alice).count() == 0
    assert Memory.objects.trashed().filter(owner=alice).count() == 3
    assert Memory.objects.filter(id=theirs.id).exists()
    garbage = client.post("/memories/bulk", {"ids": ["not-a-uuid"], "action": "delete", "confirm": "1"}, follow=True)
    assert garbage.status_code == 200


def _suggested(client, q: str) -> list[str]:
    return [u["username"] for u in client.get(f"/memories/users/lookup?q={q}").json()["users"]]


def test_user_lookup_for_the_share_picker(client, alice, bob):
    services.memory_create(actor=alice, text="x", permission="shared", shared_with=["bob"])
    client.force_login(alice)
    assert client.get("/memories/users/lookup?q=b").json() == {"users": []}
    assert _suggested(client, "bo") == ["bob"]
    assert _suggested(client, "al") == []  # not yourself


def test_user_lookup_does_not_enumerate_users_who_share_nothing_with_you(client, alice, bob, carol, make_user):
    """A prefix search used to list every account ("a", "b", … → all usernames). It now
    suggests only people you share something with: a memory either way, a group, or a persona
    they chose to list in the directory."""
    strangers = [make_user(f"zed{i}") for i in range(3)]
    client.force_login(alice)
    for q in ("bo", "ca", "ze", "zed0"):
        assert _suggested(client, q) == [], q
    services.memory_create(actor=alice, text="for bob", permission="shared", shared_with=["bob"])   # alice → bob
    services.memory_create(actor=carol, text="for alice", permission="shared", shared_with=["alice"])  # carol → alice
    team = Group.objects.create(name="team")
    team.user_set.add(alice, strangers[0])
    persona_update(actor=strangers[1], listed=True)
    assert _suggested(client, "bo") == ["bob"]
    assert _suggested(client, "ca") == ["carol"]
    assert _suggested(client, "ze") == ["zed0", "zed1"]  # zed2 shares nothing with alice
    client.force_login(strangers[2])
    assert _suggested(client, "ze") == ["zed1"]  # only the listed persona
    assert _suggested(client, "al") == _suggested(client, "bo") == []


def test_activity_timeline_and_admin_overview(client, alice, make_user):
    services.memory_create(actor=alice, text="something")
    client.force_login(alice)
    client.get("/memories/?q=something")
    assert Activity.objects.filter(actor=alice, action="memory.search", surface="web").exists()
    html = client.get("/activity").content.decode()
    assert "Created" in html and "Searched" in html and "on this website" in html
    assert client.get("/manage/overview").status_code == 403
    admin = make_user("root", is_staff=True, is_superuser=True)
    client.force_login(admin)
    page = client.get("/manage/overview")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<svg" in html and 'class="bar"' in html and "active users" in html


@pytest.mark.parametrize("path", [
    "/memories/?q=%00&kw=%00&tags=" + "x" * 600,
    "/memories/?created_from=2024-13-45&created_to=0000-00-00",
    "/memories/?sort=relevance&whose=nobody&expired=maybe&page=-5",
    "/memories/?cursor=" + "A" * 5000,
    "/memories/not-a-uuid/",
    "/memories/00000000-0000-0000-0000-000000000000/edit",
    "/memories/import/00000000-0000-0000-0000-000000000000",
    "/memories/users/lookup?q=%00%00",
    "/memories/export?format=jsonl&tags=%21%21&permission=x",
    "/activity?cursor=%ff%fe",
    "/no/such/page",
])
def test_bad_input_never_gives_a_server_error(client, alice, path):
    client.force_login(alice)
    response = client.get(path)
    assert response.status_code < 500
    if response.status_code == 404 and "text/html" in response["Content-Type"]:
        assert "Not found" in response.content.decode()


def test_activity_pages_through_older_entries(client, alice):
    for i in range(60):
        services.memory_create(actor=alice, text=f"n{i}")
    client.force_login(alice)
    first = client.get("/activity").content.decode()
    assert first.count('class="icon"') == 50
    cursor = re.search(r'href="\?cursor=([^"]+)" rel="next"', first).group(1)
    second = client.get(f"/activity?cursor={cursor}").content.decode()
    assert second.count('class="icon"') == 10 and "← Latest" in second


def test_search_box_can_search_by_exact_words_only(client, alice):
    services.memory_create(actor=alice, text="The locksmith is called Wojciechowski")
    services.memory_create(actor=alice, text="Buy oat milk and coffee beans")
    client.force_login(alice)
    html = client.get("/memories/?q=Wojciechowski&mode=keyword").content.decode()
    assert "Wojciechowski" in html and "oat milk" not in html
    html = client.get("/memories/?q=Wojciechowski&mode=semantic").content.decode()
    # by meaning only what is close enough to count (the calibrated threshold): not the oat milk
    assert "Wojciechowski" in html and "oat milk" not in html
    assert client.get("/memories/?q=x&mode=fuzzy").status_code == 400
