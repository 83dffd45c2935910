"""Stopping a running turn from the page (both modes, with the mouse and with the keyboard only, also
after a reload mid-turn), and the room's caps per turn set in its settings."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from tests.browser.conftest import PHONE, Api, screenshot, send, sign_in
from tests.browser.test_page import RUNNING_BUBBLE_WITH_TEXT, bubbles, finished, last_turn
from tests.support.server_process import Server

SLOW_FOUR = [
    {"agent_key": "ada", "model": "sim-slow", "role_prompt": "You are a careful planner."},
    {"agent_key": "bob", "model": "sim-slow", "role_prompt": "You are a bold builder."},
    {"agent_key": "cy", "model": "sim-slow", "role_prompt": "You are a cautious tester."},
    {"agent_key": "dee", "model": "sim-slow", "role_prompt": "You are a frugal accountant."},
]
FITS = "() => document.documentElement.scrollWidth <= window.innerWidth"
RUNNING_AGENT = """() => {
  const step = document.querySelector('.turn[data-status=running] .bubble.step[data-status=running]');
  return step ? step.dataset.agent : null;
}"""


def session_of(page: Page) -> str:
    return page.evaluate("localStorage.getItem('pantheon.lastSession')")


def test_stop_now_mid_answer_keeps_the_partial_text_labelled_stopped_also_after_a_reload(
    page: Page, server: Server
) -> None:
    api = Api(server)
    api.room("Cut mid-answer", SLOW_FOUR, mode="roundtable")
    sign_in(page, api.key)
    stop_now = page.get_by_role("button", name="Stop now", exact=True)
    expect(stop_now).to_be_hidden()  # no turn runs: nothing to stop

    send(page, "Everyone: what is the plan?")
    page.wait_for_function(RUNNING_BUBBLE_WITH_TEXT)
    page.reload()  # the resumed stream (Last-Event-ID) still offers the Stop control
    page.wait_for_function(RUNNING_BUBBLE_WITH_TEXT)
    expect(stop_now).to_be_visible()
    expect(stop_now).to_have_attribute("aria-disabled", "false")
    stop_now.click()
    expect(page.locator("#stop-status")).to_have_text("Stopping now…")

    finished(page, 1, "stopped")
    expect(stop_now).to_be_hidden()
    turn = last_turn(api, session_of(page))
    assert (turn["status"], turn["stop_reason"]) == ("stopped", "user")
    cut = turn["steps"][-1]
    assert cut["status"] == "stopped" and cut["error"] is None and cut["content"]
    assert all(s["status"] == "completed" for s in turn["steps"][:-1])
    assert len(turn["steps"]) < len(SLOW_FOUR)  # the agents after the cut one never ran

    shown = bubbles(page)
    assert [s["agent"] for s in shown] == [s["agent_key"] for s in turn["steps"]]  # no bubble for the others
    assert [s["text"] for s in shown] == [s["content"].strip() for s in turn["steps"]]  # the partial text, as stored
    assert shown[-1]["status"] == "stopped"
    assert "stopped" in shown[-1]["head"] and "failed" not in shown[-1]["all"].lower()
    assert "Stopped here" in shown[-1]["all"]
    expect(page.locator(".turn .turn-status").last).to_have_text("Stopped by you")
    screenshot(page, "15-stopped-now")

    page.set_viewport_size(PHONE)
    assert page.evaluate(FITS)
    screenshot(page, "16-phone-stopped", full_page=True)


def test_stop_after_this_step_lets_the_agent_in_flight_finish_and_runs_no_later_one(
    page: Page, server: Server
) -> None:
    api = Api(server)
    api.room("Graceful", SLOW_FOUR, mode="roundtable")
    sign_in(page, api.key)
    send(page, "Everyone: what do we ship first?")
    page.wait_for_function(RUNNING_BUBBLE_WITH_TEXT)
    answering = page.evaluate(RUNNING_AGENT)
    page.get_by_role("button", name="Stop after this step", exact=True).click()
    expect(page.locator("#stop-status")).to_have_text("Stopping after this step…")
    expect(page.locator(".turn-status").last).to_have_text("Stopping…")

    finished(page, 1, "stopped")
    turn = last_turn(api, session_of(page))
    assert (turn["status"], turn["stop_reason"]) == ("stopped", "user")
    steps = turn["steps"]
    assert steps[-1]["agent_key"] == answering  # the agent answering when asked was the last to run
    assert all(s["status"] == "completed" for s in steps)  # it finished its answer
    assert len(steps) < len(SLOW_FOUR)
    shown = bubbles(page)
    assert [(s["agent"], s["status"]) for s in shown] == [(s["agent_key"], "completed") for s in steps]
    expect(page.locator(".turn .turn-status").last).to_have_text("Stopped by you")
    screenshot(page, "17-stopped-after-the-step")


def test_the_stop_control_works_from_the_keyboard_alone_in_manual_mode(page: Page, server: Server) -> None:
    api = Api(server)
    api.room("Keyboard", SLOW_FOUR[:3])
    sign_in(page, api.key)
    page.focus("#message")
    page.keyboard.type("@ada @bob @cy, one risk each")
    page.keyboard.press("Escape")  # closes the @ suggestions, if any are open
    page.keyboard.press("Enter")
    page.wait_for_function(RUNNING_BUBBLE_WITH_TEXT)

    # Send is disabled while the turn runs: Tab leads from the box to the two Stop buttons.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "stop-after-step"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "stop-now"
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"
    screenshot(page, "18-stop-focused-from-the-keyboard")
    page.keyboard.press("Enter")
    expect(page.locator("#stop-status")).to_have_text("Stopping now…")
    # The focus stays put while stopping, and returns to the box once the turn is over. A stop takes a
    # few milliseconds, so read both at one instant: whichever state the page is in, the focus fits it.
    status, focused = page.evaluate(
        "[document.querySelector('#stop-status')?.textContent ?? '', document.activeElement.id]"
    )
    assert focused == ("stop-now" if status == "Stopping now…" else "message"), (status, focused)

    finished(page, 1, "stopped")
    assert page.evaluate("document.activeElement.id") == "message"  # back in the box once it is over
    turn = last_turn(api, session_of(page))
    assert (turn["status"], turn["stop_reason"], turn["steps"][-1]["status"]) == ("stopped", "user", "stopped")
    assert len(turn["steps"]) < 3


def test_a_stop_that_comes_too_late_says_the_turn_had_finished(page: Page, server: Server) -> None:
    api = Api(server)
    api.room("Too late", SLOW_FOUR[:1])
    sign_in(page, api.key)
    # The turn ends between the click and the server's answer: the server says 409 turn_not_running.
    page.route(
        "**/stop",
        lambda route: route.fulfill(
            status=409,
            json={"status": 409, "code": "turn_not_running", "detail": "The turn is not running."},
        ),
    )
    send(page, "@ada one line, please")
    page.wait_for_function(RUNNING_BUBBLE_WITH_TEXT)
    page.get_by_role("button", name="Stop now", exact=True).click()
    expect(page.locator("#notice")).to_have_text("The turn had already finished.")
    finished(page, 1, "completed")  # not an error: the turn simply ran to its end
    expect(page.locator("#notice")).not_to_have_class("notice error")


def test_caps_per_turn_are_saved_in_the_settings_shown_after_a_reload_and_refused_beside_their_field(
    page: Page, server: Server
) -> None:
    api = Api(server)
    room = api.room("Capped", SLOW_FOUR[:2])
    sign_in(page, api.key)
    expect(page.locator("#room-caps")).to_be_hidden()  # no caps yet

    page.click("#room-settings-toggle")
    for field in ("#cap-credits", "#cap-calls", "#cap-seconds"):
        expect(page.locator(field)).to_have_value("")
        expect(page.locator(field)).to_have_attribute("placeholder", "no cap")
    page.fill("#cap-credits", "0.5")
    page.fill("#cap-calls", "3")
    screenshot(page, "19-caps-settings", full_page=True)
    page.click("#room-settings button[type=submit]")
    expect(page.locator("#room-settings")).to_be_hidden()
    expect(page.locator("#room-caps")).to_have_text("Caps per turn: 0.5000 credits · 3 agent calls")
    stored = api.call("GET", f"/rooms/{room['id']}")
    caps = ("max_credits_per_turn", "max_agent_calls_per_turn", "max_turn_seconds")
    assert [stored[c] for c in caps] == ["0.5000", 3, None]

    page.reload()
    expect(page.locator("#room-caps")).to_have_text("Caps per turn: 0.5000 credits · 3 agent calls")
    page.click("#room-settings-toggle")
    expect(page.locator("#cap-credits")).to_have_value("0.5000")
    expect(page.locator("#cap-calls")).to_have_value("3")
    expect(page.locator("#cap-seconds")).to_have_value("")

    # A bad value is refused by the server (422, extra[].key) and said beside its own field.
    page.fill("#cap-seconds", "0")
    page.click("#room-settings button[type=submit]")
    error = page.locator("#cap-seconds-error")
    expect(error).to_contain_text("Not accepted")
    expect(error).to_contain_text("1 to 86,400")
    expect(page.locator("#cap-seconds")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#cap-credits-error")).to_be_hidden()
    expect(page.locator("#room-settings-error")).to_be_hidden()
    expect(page.locator("#room-settings")).to_be_visible()
    assert page.evaluate("document.activeElement.id") == "cap-seconds"
    assert api.call("GET", f"/rooms/{room['id']}")["max_turn_seconds"] is None  # nothing was saved
    screenshot(page, "20-caps-refused-beside-the-field")

    # Emptying a field clears its cap; the others stay.
    page.fill("#cap-seconds", "90")
    page.fill("#cap-credits", "")
    page.click("#room-settings button[type=submit]")
    expect(page.locator("#room-caps")).to_have_text("Caps per turn: 3 agent calls · 90 s")
    stored = api.call("GET", f"/rooms/{room['id']}")
    assert [stored[c] for c in caps] == [None, 3, 90]

    page.set_viewport_size(PHONE)
    page.click("#room-settings-toggle")
    expect(page.locator("#cap-seconds")).to_have_value("90")
    assert page.evaluate(FITS)
    screenshot(page, "21-phone-caps-settings", full_page=True)
