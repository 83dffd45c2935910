"""The page at a phone's width (375 px): every view fits, nothing scrolls sideways."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import Api, screenshot, send, sign_in
from tests.support.server_process import Server

FITS = "() => document.documentElement.scrollWidth <= window.innerWidth"
LONG = (
    "@ada here is a long line: https://example.com/a/very/long/path/that/keeps/going/and/going/without/a/break "
    "and `averyveryveryveryveryveryveryverylongidentifierwithoutspaces`\n\n```\n"
    + "x = 1  # a code line much wider than a phone, which scrolls inside its block " * 2
    + "\n```"
)


def test_every_view_fits_a_phone_without_horizontal_scroll(phone: Page, server: Server) -> None:
    phone.goto("/")
    expect(phone.locator("#signup-form")).to_be_visible()
    assert phone.evaluate(FITS)
    screenshot(phone, "11-phone-sign-up", full_page=True)

    api = Api(server)
    api.room(
        "A council with a rather long name for a phone",
        [
            {"agent_key": "ada", "model": "sim", "role_prompt": "You repeat. <<pantheon-sim:echo>>"},
            {"agent_key": "bob_the_builder", "model": "sim", "role_prompt": "You are Bob."},
        ],
    )
    sign_in(phone, api.key)
    send(phone, LONG)
    expect(phone.locator(".turn")).to_have_count(1)
    expect(phone.locator(".turn").last).to_have_attribute("data-status", "completed")
    assert phone.evaluate(FITS)
    phone.locator(".turn").last.get_by_role("button", name="Ledger").click()
    expect(phone.locator(".ledger tbody tr")).to_have_count(1)
    assert phone.evaluate(FITS)  # the ledger table scrolls inside its own box
    screenshot(phone, "12-phone-room", full_page=True)

    phone.click("#message")
    phone.keyboard.type("@b")
    expect(phone.locator("#tag-list [role=option]")).to_have_count(1)
    assert phone.evaluate(FITS)
    screenshot(phone, "13-phone-autocomplete")
    phone.keyboard.press("Escape")

    phone.click("#nav-usage")
    expect(phone.locator("#chart-day svg rect")).to_have_count(1)
    assert phone.evaluate(FITS)
    screenshot(phone, "14-phone-usage", full_page=True)
