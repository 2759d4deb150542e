"""History, trash and the edit-conflict screen in a real browser (Debian's Chromium) against
the live server: what a person does when an edit or a delete was a mistake."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.system.browser.test_site_in_browser import create_memory, shot, sign_up

pytestmark = pytest.mark.browser


def _open_memory(site, page, text: str) -> str:
    page.goto(site("/memories/"))
    page.locator(".memory-list > li", has_text=text).first.get_by_role("link").first.click()
    expect(page.get_by_role("heading", name="Memory", exact=True)).to_be_visible()
    return page.url


def test_history_diff_and_restoring_an_earlier_version(live_site, new_page):
    site, page = live_site, new_page()
    sign_up(site, page, "hana", "Hana History")
    create_memory(site, page, "I keep my bike in the shed behind the house.")
    url = page.url
    page.get_by_role("link", name="Edit").click()
    page.get_by_label("Memory").fill("I keep my bike in the garage behind the house.")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("Memory updated.")).to_be_visible()
    history = page.locator("[data-history]")
    expect(history.locator("[data-version]")).to_have_count(2)
    expect(history.locator("[data-version='2'] del")).to_have_text("shed")
    expect(history.locator("[data-version='2'] ins")).to_have_text("garage")
    shot(site, page, "12-history")
    history.locator("[data-version='1']").get_by_role("button", name="Restore this version").click()
    expect(page.get_by_text("Version 1 is current again (saved as version 3).")).to_be_visible()
    expect(page.locator(".memory-text")).to_contain_text("in the shed")
    expect(page.locator("[data-history] [data-version]")).to_have_count(3)
    assert page.url == url


def test_two_tabs_never_overwrite_each_other_silently(live_site, new_page):
    site, tab_a = live_site, new_page()
    sign_up(site, tab_a, "conrad", "Conrad Conflict")
    create_memory(site, tab_a, "Team meeting on Tuesday at 10.")
    edit_url = tab_a.url.rstrip("/") + "/edit"
    tab_b = tab_a.context.new_page()
    tab_a.goto(edit_url)
    tab_b.goto(edit_url)
    tab_a.get_by_label("Memory").fill("Team meeting on Wednesday at 10.")
    tab_a.get_by_role("button", name="Save changes").click()
    expect(tab_a.get_by_text("Memory updated.")).to_be_visible()

    tab_b.get_by_label("Memory").fill("Team meeting on Tuesday at 11.")
    tab_b.get_by_role("button", name="Save changes").click()
    expect(tab_b.get_by_role("heading", name="This memory changed while you were editing")).to_be_visible()
    expect(tab_b.locator("[data-mine] ins")).to_have_text("11.")  # each side: its change to the text both started from
    expect(tab_b.locator("[data-theirs] ins")).to_have_text("Wednesday")
    shot(site, tab_b, "13-edit-conflict")
    # No plain "Save" here: only an explicit choice writes; A's change is still there.
    expect(tab_b.get_by_role("button", name="Save changes")).to_have_count(0)
    tab_a.reload()
    expect(tab_a.locator(".memory-text")).to_contain_text("Wednesday at 10.")
    # Merge by hand: an explicit choice, so it saves; both earlier texts stay in the history.
    tab_b.locator("#merge-text").fill("Team meeting on Wednesday at 11.")
    tab_b.get_by_role("button", name="Save the merged text").click()
    expect(tab_b.get_by_text("Memory updated.")).to_be_visible()
    expect(tab_b.locator(".memory-text")).to_contain_text("Wednesday at 11.")
    expect(tab_b.locator("[data-history] [data-version='2']")).to_contain_text("Wednesday")
    expect(tab_b.locator("[data-history] [data-version='1']")).to_contain_text("Tuesday at 10.")


def test_delete_goes_to_the_trash_and_comes_back(live_site, new_page):
    site, page = live_site, new_page()
    sign_up(site, page, "tess", "Tess Trash")
    create_memory(site, page, "The spare key is with the neighbour at number 12.")
    create_memory(site, page, "Recycling goes out on Thursdays.")
    page.get_by_role("link", name="Delete").click()
    expect(page.get_by_text("moves to the trash")).to_be_visible()
    page.get_by_role("button", name="Delete", exact=True).click()
    expect(page.get_by_text(re.compile("Memory moved to the trash"))).to_be_visible()
    expect(page.locator(".memory-list")).not_to_contain_text("Recycling")
    page.get_by_label("Search by meaning").fill("when is recycling collected")
    page.get_by_role("button", name="Search").click()
    expect(page.locator("main")).not_to_contain_text("Recycling goes out")

    page.get_by_role("navigation").get_by_role("link", name="Trash", exact=True).click()
    expect(page.get_by_role("heading", name="Trash")).to_be_visible()
    expect(page.locator("[data-trash]")).to_contain_text("Recycling goes out on Thursdays.")
    shot(site, page, "14-trash")
    page.get_by_role("button", name="Restore").click()
    expect(page.get_by_text("Memory restored from the trash.")).to_be_visible()
    expect(page.get_by_text("The trash is empty")).to_be_visible()
    page.goto(site("/memories/"))
    expect(page.locator(".memory-list")).to_contain_text("Recycling goes out on Thursdays.")

    # Delete both, then one forever and the rest with "Empty trash".
    page.get_by_label("Select all memories on this page").check()
    page.locator("#bulk-action").select_option("delete")
    page.get_by_role("button", name="Apply").click()
    page.get_by_role("button", name="Delete 2").click()
    expect(page.get_by_text("Moved to the trash: 2 memories.")).to_be_visible()
    page.goto(site("/memories/trash"))
    page.locator("[data-trashed]", has_text="spare key").get_by_role("link", name="Delete forever").click()
    expect(page.get_by_text("This cannot be undone")).to_be_visible()
    page.get_by_role("button", name="Delete forever").click()
    expect(page.get_by_text("Memory deleted for good.")).to_be_visible()
    expect(page.locator("[data-trashed]")).to_have_count(1)
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Empty trash").click()
    expect(page.get_by_text("Deleted 1 memory for good.")).to_be_visible()
    expect(page.get_by_text("The trash is empty")).to_be_visible()
