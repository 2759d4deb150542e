"""The site in a real browser (Debian's Chromium via Playwright) against the live ASGI server:
sign up → create memories → search → share → ask a persona → export/import round trip →
bulk actions → admin overview; and a phone-sized viewport where nothing overflows."""

from __future__ import annotations

import re
import time

import pytest
from playwright.sync_api import Page, expect

from tests.system.browser.conftest import ADMIN_PASSWORD

pytestmark = pytest.mark.browser

PASSWORD = "a long enough passphrase"


def shot(site, page: Page, name: str, *, full_page: bool = True) -> None:
    page.screenshot(path=str(site.screenshots / f"{name}.png"), full_page=full_page)


def sign_up(site, page: Page, username: str, display_name: str) -> None:
    page.goto(site("/"))
    page.get_by_role("link", name="Create your account").click()
    page.get_by_label("Username").fill(username)
    page.get_by_label("E-mail").fill(f"{username}@example.com")
    page.get_by_label("Display name").fill(display_name)
    page.get_by_label("Password", exact=True).fill(PASSWORD)
    page.get_by_label("Password confirmation").fill(PASSWORD)
    page.get_by_role("button", name="Create account").click()
    expect(page.get_by_text(f"Welcome to Picard, {display_name}!")).to_be_visible()


def sign_in(site, page: Page, username: str, password: str = PASSWORD) -> None:
    page.goto(site("/login"))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="Your memories")).to_be_visible()


def create_memory(site, page: Page, text: str, *, tags: str = "", permission: str | None = None) -> None:
    page.goto(site("/memories/new"))
    page.get_by_label("Memory").fill(text)
    page.get_by_label("Tags").fill(tags)
    if permission:
        page.get_by_role("radio", name=re.compile(permission, re.I)).check()
    page.get_by_role("button", name="Save memory").click()
    expect(page.get_by_text("Memory saved.")).to_be_visible()


def list_persona(site, page: Page) -> None:
    """Opt in to the persona directory (new accounts are not listed)."""
    page.goto(site("/personas/me/"))
    page.get_by_label("List my persona in the directory").check()
    page.get_by_role("button", name="Save persona").click()
    expect(page.get_by_text("Your persona is saved.")).to_be_visible()


def no_horizontal_overflow(page: Page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")


def test_the_whole_journey(live_site, new_page, tmp_path):
    site = live_site
    page = new_page()

    # The front page, then sign up.
    page.goto(site("/"))
    expect(page.get_by_role("heading", name="A memory for you and your AI assistants")).to_be_visible()
    shot(site, page, "01-home")
    sign_up(site, page, "alice", "Alice Liddell")

    # Inline errors: an empty memory is refused next to the field.
    page.get_by_role("button", name="Save memory").click()
    expect(page.locator("#field-text .errorlist")).to_contain_text("This field is required")

    # Create memories, with Markdown.
    page.get_by_label("Memory").fill("**Hiking** in the Alps every summer — my favourite holiday. Next trip: the [Haute Route](https://en.wikipedia.org/wiki/Haute_Route).")
    page.get_by_label("Tags").fill("travel, outdoors")
    page.get_by_role("radio", name=re.compile("^Public")).check()
    page.get_by_role("button", name="Save memory").click()
    expect(page.get_by_text("Memory saved.")).to_be_visible()
    expect(page.locator(".memory-text strong")).to_have_text("Hiking")
    expect(page.locator(".memory-text a")).to_have_attribute("rel", "noopener noreferrer nofollow")
    create_memory(site, page, "Buy oat milk, coffee beans and bread on Saturday.", tags="shopping")
    create_memory(site, page, "The team offsite is in Lisbon on **March 3rd**; bring the slides.", tags="work")
    create_memory(site, page, "My sister's birthday is on 12 June; she likes orchids.", tags="family")

    # The list, a search by meaning, and a tag filter.
    page.goto(site("/memories/"))
    expect(page.locator(".memory-list > li")).to_have_count(4)
    shot(site, page, "02-memories")
    page.get_by_label("Search by meaning").fill("mountain vacation")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_role("heading", name="Results for “mountain vacation”")).to_be_visible()
    expect(page.locator(".memory-list > li").first).to_contain_text("Alps")
    shot(site, page, "03-search")
    page.goto(site("/memories/"))
    page.locator(".tag", has_text="#work").first.click()
    expect(page.locator(".memory-list > li")).to_have_count(1)
    expect(page.locator(".memory-list")).to_contain_text("Lisbon")

    # A second person signs up and lists his persona (so the share picker may suggest him);
    # Alice shares the Lisbon memory with Bob.
    bob = new_page()
    sign_up(site, bob, "bob", "Bob Builder")
    list_persona(site, bob)
    page.goto(site("/memories/?tags=work"))
    page.get_by_role("link", name="Edit").first.click()
    page.get_by_role("radio", name=re.compile("^Shared")).check()
    share = page.get_by_label("Share with people")
    expect(share).to_be_visible()
    share.fill("bo")
    page.wait_for_function("document.querySelectorAll('#user-suggestions option').length > 0")
    share.fill("bob")
    shot(site, page, "04-edit-share")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("Memory updated.")).to_be_visible()
    expect(page.locator(".badge-shared").first).to_be_visible()
    bob.goto(site("/memories/?whose=all"))
    expect(bob.locator(".memory-list")).to_contain_text("Lisbon")
    expect(bob.locator(".memory-list")).to_contain_text("Alps")  # public
    expect(bob.locator(".memory-list")).not_to_contain_text("oat milk")  # private

    # Alice lists her persona; Bob finds it in the directory and asks; the answer cites her public memory.
    list_persona(site, page)
    bob.goto(site("/personas/"))
    bob.get_by_role("link", name=re.compile("Alice")).first.click()
    bob.get_by_label(re.compile("question|Question|Ask|prompt", re.I)).first.fill("Do you like hiking in the Alps?")
    bob.get_by_role("button", name="Ask").click()
    expect(bob.locator(".chat-answer")).to_be_visible(timeout=30_000)
    expect(bob.locator(".memory-citations")).to_contain_text("Alps")
    expect(bob.locator(".chat-answer")).not_to_contain_text("oat milk")
    shot(site, bob, "05-persona")

    # Export everything, delete it all with the bulk action, import the file back.
    page.goto(site("/memories/import"))
    shot(site, page, "06-import-export")
    with page.expect_download() as info:
        page.get_by_role("button", name="Download").click()
    first_export = tmp_path / "first.jsonl"
    info.value.save_as(first_export)
    assert len(first_export.read_text().splitlines()) == 4

    page.goto(site("/memories/"))
    page.get_by_label("Select all memories on this page").check()
    expect(page.get_by_text("4 selected")).to_be_visible()
    page.locator("#bulk-action").select_option("delete")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("heading", name="Delete 4 memories?")).to_be_visible()
    page.get_by_role("button", name="Delete 4").click()
    expect(page.get_by_text("Moved to the trash: 4 memories.")).to_be_visible()
    expect(page.get_by_role("heading", name="No memories yet")).to_be_visible()

    page.goto(site("/memories/import"))
    page.get_by_label("File").set_input_files(str(first_export))
    page.get_by_role("button", name="Upload and preview").click()
    expect(page.get_by_text("4 memories found")).to_be_visible()
    shot(site, page, "07-import-preview")
    page.get_by_role("button", name="Import 4 memories").click()
    expect(page.get_by_text(re.compile("4 of 4 rows \\(100%\\) — 4 imported"))).to_be_visible(timeout=30_000)
    expect(page.locator(".badge-done")).to_be_visible()
    shot(site, page, "08-import-done")
    page.goto(site("/memories/import"))
    with page.expect_download() as info:
        page.get_by_role("button", name="Download").click()
    second_export = tmp_path / "second.jsonl"
    info.value.save_as(second_export)
    assert second_export.read_bytes() == first_export.read_bytes()

    # Bulk: make everything public, then tag two memories.
    page.goto(site("/memories/?sort=oldest"))
    boxes = page.locator("input[name=ids]")
    boxes.nth(0).check()
    boxes.nth(1).check()
    page.locator("#bulk-action").select_option("add_tag")
    page.locator("#bulk-tag").fill("favourite")
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_text("Tagged “favourite”: 2 memories.")).to_be_visible()
    expect(page.locator(".tag", has_text="#favourite")).to_have_count(3)  # 2 cards + the sidebar

    # Her own timeline shows what happened, through which door.
    page.goto(site("/activity"))
    expect(page.locator(".timeline").first).to_contain_text("Imported")
    expect(page.locator(".timeline").first).to_contain_text("on this website")
    shot(site, page, "09-activity")

    # Settings: a default visibility for new memories.
    page.goto(site("/account/settings"))
    page.get_by_label("Default expiry (days)").fill("-1")
    page.get_by_role("button", name="Save settings").click()
    expect(page.locator("#field-default_expiry_days .errorlist")).to_be_visible()
    page.get_by_label("Default expiry (days)").fill("90")
    page.get_by_role("button", name="Save settings").click()
    expect(page.get_by_text("Your settings are saved.")).to_be_visible()
    shot(site, page, "10-settings")

    # The administrator's overview with its chart.
    admin = new_page()
    sign_in(site, admin, "admin", ADMIN_PASSWORD)
    admin.get_by_role("link", name="Admin", exact=True).click()
    expect(admin.get_by_role("heading", name="Overview")).to_be_visible()
    expect(admin.locator("svg.chart rect.bar")).to_have_count(14)
    shot(site, admin, "11-admin-overview")

    # Sign out.
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("navigation").get_by_role("link", name="Sign in")).to_be_visible()


def test_markdown_cannot_run_script(live_site, new_page):
    site = live_site
    page = new_page()
    sign_up(site, page, "mallory", "Mallory")
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    create_memory(site, page, (
        "<script>window.pwned = 1</script>\n\n<img src=x onerror=\"window.pwned = 2\">\n\n"
        "[click me](javascript:window.pwned=3) ![x](javascript:alert(1)) <a href=\"javascript:alert(1)\">raw</a>"
    ))
    page.goto(site("/memories/"))
    for link in page.locator(".memory-text a").all():
        link.click()
    assert page.evaluate("window.pwned === undefined") and dialogs == []
    assert page.locator(".memory-text script, .memory-text img[onerror], .memory-text [href^='javascript']").count() == 0
    expect(page.locator(".memory-text")).to_contain_text("<script>window.pwned = 1</script>")  # shown as text


@pytest.mark.parametrize("path", ["/", "/login", "/register"])
def test_public_pages_fit_a_phone(live_site, new_page, path):
    page = new_page(mobile=True)
    page.goto(live_site(path))
    assert no_horizontal_overflow(page), f"{path} scrolls sideways on a phone"


def test_member_pages_fit_a_phone_and_the_menu_opens(live_site, new_page):
    site = live_site
    page = new_page(mobile=True)
    sign_up(site, page, "phoebe", "Phoebe on the phone")
    create_memory(site, page, "A very long unbroken word: " + "x" * 300 + " and a URL https://example.com/" + "a" * 200, tags="long")
    for path in ["/memories/", "/memories/new", "/memories/import", "/activity", "/account/settings", "/personas/", "/connect/", "/settings/tokens/"]:
        page.goto(site(path))
        assert no_horizontal_overflow(page), f"{path} scrolls sideways on a phone"
    page.goto(site("/memories/"))
    nav = page.locator("#site-nav")
    expect(nav).to_be_hidden()
    page.get_by_role("button", name="Menu").click()
    expect(nav).to_be_visible()
    expect(page.get_by_role("link", name="Activity")).to_be_visible()
    shot(site, page, "12-phone-menu", full_page=False)
    page.get_by_role("button", name="Menu").click()
    page.goto(site("/memories/"))
    shot(site, page, "13-phone-memories")


def _post(url: str, *, form: dict | None = None, json_body: dict | None = None, token: str | None = None) -> tuple[int, dict]:
    import json
    import urllib.error
    import urllib.parse
    import urllib.request

    if form is not None:
        data, content_type = urllib.parse.urlencode(form).encode(), "application/x-www-form-urlencoded"
    else:
        data, content_type = json.dumps(json_body).encode(), "application/json"
    request = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": content_type})
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read() or b"{}")
    except urllib.error.HTTPError as exc:
        body = exc.read()
        try:
            return exc.code, json.loads(body or b"{}")
        except ValueError:
            return exc.code, {"raw": body.decode(errors="replace")}


def test_connect_an_oauth_client_and_revoke_it(live_site, new_page):
    import base64
    import hashlib
    import secrets
    import urllib.parse

    site = live_site
    callback = "http://127.0.0.1:9/callback"

    # An administrator registers the app and sees its secret once.
    admin = new_page()
    sign_in(site, admin, "admin", ADMIN_PASSWORD)
    admin.goto(site("/manage/clients"))
    admin.get_by_label("App name").fill("Notebook Assistant")
    admin.get_by_label("Redirect URIs").fill(callback)
    admin.get_by_role("button", name="Register client").click()
    expect(admin.get_by_text("will not be shown again")).to_be_visible()
    client_id = admin.locator("[data-client-id]").first.inner_text().strip()
    client_secret = admin.locator("[data-client-secret]").inner_text().strip()
    shot(site, admin, "14-admin-clients")
    admin.goto(site("/manage/clients"))
    expect(admin.locator("tr", has_text="Notebook Assistant")).to_be_visible()
    expect(admin.locator("[data-client-secret]")).to_have_count(0)

    # A person connects it: consent page, allow, back to the app with a code.
    page = new_page()
    sign_up(site, page, "olivia", "Olivia")
    create_memory(site, page, "Olivia's bike lock code hint: the year we met.", tags="home")
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    page.route("http://127.0.0.1:9/**", lambda route: route.fulfill(status=200, content_type="text/plain", body="back in the app"))
    query = urllib.parse.urlencode({
        "response_type": "code", "client_id": client_id, "redirect_uri": callback, "scope": "memories:read memories:write",
        "state": "xyz", "code_challenge": challenge, "code_challenge_method": "S256",
    })
    page.goto(site(f"/authorize?{query}"))
    expect(page.get_by_role("heading", name=re.compile("Allow Notebook Assistant"))).to_be_visible()
    shot(site, page, "15-consent")
    with page.expect_request(lambda r: r.url.startswith(callback)) as info:
        page.get_by_role("button", name="Allow").click()
    params = urllib.parse.parse_qs(urllib.parse.urlsplit(info.value.url).query)
    assert params["state"] == ["xyz"]
    status, tokens = _post(site("/token"), form={
        "grant_type": "authorization_code", "code": params["code"][0], "redirect_uri": callback,
        "client_id": client_id, "client_secret": client_secret, "code_verifier": verifier,
    })
    assert status == 200, tokens
    access = tokens["access_token"]
    status, body = _post(site("/api/tools"), json_body={"tool": "query_memory", "data": {"query": "bike lock"}}, token=access)
    assert status == 200 and "bike lock" in str(body)

    # The connected-apps page lists it; revoking signs the app out at once.
    page.goto(site("/connected-apps"))
    row = page.locator("tr", has_text="Notebook Assistant")
    expect(row).to_be_visible()
    shot(site, page, "16-connected-apps")
    row.get_by_role("button", name="Revoke").click()
    expect(page.get_by_text("Access revoked")).to_be_visible()
    expect(page.locator("tr", has_text="Notebook Assistant")).to_have_count(0)
    status, _ = _post(site("/api/tools"), json_body={"tool": "query_memory", "data": {"query": "bike lock"}}, token=access)
    assert status == 401

    # Her timeline says which app searched her memories. Read activity is written in batches
    # about once a second (docs/security.md), so a page opened at once may not show it yet:
    # reload as a person would, for a few seconds at most.
    deadline = time.monotonic() + 10
    page.goto(site("/activity"))
    while "via Notebook Assistant" not in page.locator(".timeline").first.inner_text() and time.monotonic() < deadline:
        page.wait_for_timeout(500)
        page.reload()
    expect(page.locator(".timeline").first).to_contain_text("via Notebook Assistant")


def test_connect_page_gives_the_mcp_url_and_a_personal_access_token_works_with_curl(live_site, new_page):
    site = live_site
    page = new_page()
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=site(""))
    sign_up(site, page, "connie", "Connie")
    create_memory(site, page, "Connie prefers window seats on trains.", tags="travel")

    # The empty Connected apps page points to the Connect page.
    page.goto(site("/connected-apps"))
    page.get_by_role("link", name="Connect an AI client").click()
    expect(page.get_by_role("heading", name="Connect an AI client")).to_be_visible()
    mcp_url = site("/mcp")
    expect(page.get_by_label("MCP server URL")).to_have_value(mcp_url)
    page.locator(".connect-url").get_by_role("button", name="Copy").click()
    expect(page.locator(".connect-url").get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("navigator.clipboard.readText()") == mcp_url
    for key in ("claude", "claude-code", "chatgpt", "cursor", "vscode", "inspector", "curl"):
        expect(page.locator(f"[data-client={key}]")).to_be_visible()
    expect(page.locator("[data-client=claude-code] pre")).to_have_text(f"claude mcp add --transport http picard {mcp_url}")
    expect(page.locator("[data-client=cursor] pre")).to_contain_text(f'"url": "{mcp_url}"')
    expect(page.locator("[data-client=curl] pre")).to_contain_text(site("/api/tools"))
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Connect", exact=True)).to_have_attribute("aria-current", "page")
    shot(site, page, "17-connect")

    # A personal access token, made on the settings page, works as the curl snippet says.
    page.goto(site("/settings/tokens/"))
    page.get_by_label("Name").fill("travel script")
    page.get_by_role("checkbox", name=re.compile("memories:read")).check()
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_text("cannot be shown again")).to_be_visible()
    token = page.get_by_label("The new token").input_value()
    assert token.startswith("picard_pat_")
    status, body = _post(site("/api/tools"), json_body={"tool": "query_memory", "data": {"query": "window seats"}}, token=token)
    assert status == 200 and "window seats" in str(body)
    page.goto(site("/settings/tokens/"))
    row = page.locator("tr", has_text="travel script")
    expect(row).to_contain_text("ago")
    expect(page.get_by_label("The new token")).to_have_count(0)
    shot(site, page, "18-access-tokens")
    row.get_by_role("button", name="Revoke").click()
    expect(page.get_by_text("stopped working at once")).to_be_visible()
    status, _ = _post(site("/api/tools"), json_body={"tool": "query_memory", "data": {"query": "window seats"}}, token=token)
    assert status == 401
