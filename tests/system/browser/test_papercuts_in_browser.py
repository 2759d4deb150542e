"""Site papercuts that only a browser can tell (Debian's Chromium via Playwright, against the
live server): the header's "Create account" contrast, times in the browser's time zone and an
expiry typed in local time, and a streamed persona answer's Markdown."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from tests.system.browser.test_site_in_browser import sign_in, sign_up

pytestmark = pytest.mark.browser


def _rgb(css: str) -> tuple[float, float, float]:
    r, g, b = (float(v) for v in re.findall(r"[\d.]+", css)[:3])
    return r, g, b


def _luminance(rgb: tuple[float, float, float]) -> float:
    def channel(v: float) -> float:
        v /= 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4
    r, g, b = (channel(v) for v in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(foreground: str, background: str) -> float:
    """WCAG 2 contrast ratio of two computed CSS colours."""
    light, dark = sorted((_luminance(_rgb(foreground)), _luminance(_rgb(background))), reverse=True)
    return (light + 0.05) / (dark + 0.05)


@pytest.mark.parametrize("mobile", [False, True], ids=["desktop", "phone"])
def test_signed_out_create_account_button_is_readable(live_site, new_page, mobile):
    page = new_page(mobile=mobile)
    page.goto(live_site("/"))
    if mobile:
        page.get_by_role("button", name="Menu").click()
    button = page.locator("#site-nav").get_by_role("link", name="Create account")
    expect(button).to_be_visible()
    for state in ("rest", "hover"):
        if state == "hover":
            button.hover()
        colours = button.evaluate("el => { const s = getComputedStyle(el); return [s.color, s.backgroundColor]; }")
        assert contrast(*colours) >= 4.5, (state, colours)


def test_times_show_in_the_browsers_zone_and_expiry_is_typed_in_local_time(live_site, new_page):
    tokyo = new_page(timezone_id="Asia/Tokyo")
    sign_up(live_site, tokyo, "kenji", "Kenji")  # picard.js stored the zone on the first page
    tokyo.goto(live_site("/memories/new"))
    expect(tokyo.get_by_text("Expires (Asia/Tokyo time)")).to_be_visible()
    tokyo.get_by_label("Memory").fill("Renew the passport")
    tokyo.get_by_label(re.compile("^Expires")).fill("2031-01-01T09:00")
    tokyo.get_by_role("button", name="Save memory").click()
    expect(tokyo.get_by_text("Memory saved.")).to_be_visible()
    expect(tokyo.locator("[data-expires]")).to_have_text("Jan 1, 2031, 09:00 JST")
    expect(tokyo.get_by_text(re.compile(r"\d\d:\d\d JST")).first).to_be_visible()  # "Created" too
    memory_url = tokyo.url
    tokyo.goto(memory_url.rstrip("/") + "/edit")
    expect(tokyo.get_by_label(re.compile("^Expires"))).to_have_value("2031-01-01T09:00")

    # The same memory seen from a browser in UTC: the same moment, 9 hours earlier on the clock.
    utc = new_page(timezone_id="UTC")
    sign_in(live_site, utc, "kenji")
    utc.goto(memory_url)
    expect(utc.locator("[data-expires]")).to_have_text("Jan 1, 2031, 00:00 UTC")


def test_streamed_persona_answer_shows_markdown_rendered(live_site, new_page):
    owner = new_page()
    sign_up(live_site, owner, "tealover", "Tea Lover")
    owner.get_by_label("Memory").fill("**Darjeeling first flush** is my favourite tea.")
    owner.get_by_role("radio", name=re.compile("^Public")).check()
    owner.get_by_role("button", name="Save memory").click()
    expect(owner.get_by_text("Memory saved.")).to_be_visible()
    owner.goto(live_site("/personas/me/"))
    ask_url = owner.get_by_role("link", name="Try your persona").get_attribute("href")

    asker = new_page()
    sign_up(live_site, asker, "guest", "Guest")
    asker.goto(live_site(ask_url))
    asker.evaluate("window.stillThisPage = true")
    asker.get_by_label("Your question").fill("Which tea do you like best?")
    asker.get_by_role("button", name="Ask").click()
    answer = asker.locator(".chat-answer .chat-text")
    expect(answer.locator("strong")).to_have_text("Darjeeling first flush", timeout=30_000)
    expect(answer).not_to_contain_text("**")
    assert asker.evaluate("window.stillThisPage === true")  # the streaming (JavaScript) path, not a form post
