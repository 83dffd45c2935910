"""The page at desktop width, driven like a person would: sign-up, a council, turns that stream,
failures, a reload and a network loss mid-turn, and answers that try to inject markup."""

from __future__ import annotations

import re
import threading
import time
from typing import Any

from playwright.sync_api import Page, expect

from tests.browser.conftest import Api, screenshot, send, sign_in
from tests.support.server_process import Server
from tests.support.tcp_proxy import CuttableProxy

RUNNING_BUBBLE_WITH_TEXT = """() => {
  const turn = document.querySelector('.turn[data-status=running]');
  const first = turn && turn.querySelector('.bubble.step .md');
  return !!first && first.textContent.length > 0;
}"""


def bubbles(page: Page, turn: str = ".turn:last-of-type") -> list[dict[str, str]]:
    return page.eval_on_selector_all(
        f"{turn} .bubble.step",
        """nodes => nodes.map(n => ({kind: n.dataset.kind, status: n.dataset.status, agent: n.dataset.agent,
            name: n.querySelector('.agent-name').textContent, text: n.querySelector('.md').textContent,
            head: n.querySelector('.bubble-head').textContent, all: n.textContent}))""",
    )


def finished(page: Page, turns: int, status: str = "completed") -> None:
    """Waits for the conversation to hold `turns` turns, the last one ended with `status`."""
    expect(page.locator(".turn")).to_have_count(turns)
    expect(page.locator(".turn").last).to_have_attribute("data-status", status)


def last_turn(api: Api, session_id: str) -> dict:
    return api.call("GET", f"/sessions/{session_id}/turns?limit=500")["items"][-1]


def test_sign_up_a_council_of_two_a_manual_turn_with_autocompletion_then_an_orchestrated_one(page: Page) -> None:
    page.goto("/")
    screenshot(page, "01-sign-up")
    page.fill("#signup-email", "ada.page@example.com")
    page.fill("#signup-name", "Ada")
    page.click("#signup-form button[type=submit]")
    expect(page.locator("#new-key-value")).to_have_text(re.compile(r"^pk_\S+$"))
    screenshot(page, "01b-api-key-shown-once")
    page.click("#continue")
    expect(page.locator("#who")).to_have_text("Ada")

    page.fill("#new-room-name", "Architecture council")
    page.press("#new-room-name", "Enter")
    expect(page.locator("#room-name")).to_have_text("Architecture council")
    for key, role in (
        ("architect", "You favour simple, proven designs."),
        ("skeptic", "You look for what goes wrong."),
    ):
        page.fill("#agent-key", key)
        page.fill("#agent-name", key.title())
        page.select_option("#agent-model", "sim")
        page.fill("#agent-role", role)
        page.click("#agent-form button[type=submit]")
        expect(page.locator(f"#agent-list [data-agent={key}]")).to_contain_text(key.title())
    # Unavailable models (providers without keys) are listed, marked, and explained when picked.
    assert "unavailable" in page.inner_text("#agent-model")
    page.select_option("#agent-model", "deepseek")
    expect(page.locator("#agent-model-hint")).to_contain_text("provider_not_configured")

    page.click("#message")
    page.keyboard.type("@sk")
    options = page.locator("#tag-list [role=option]")
    expect(options).to_have_count(1)
    expect(options.first).to_contain_text("@skeptic")
    screenshot(page, "02-autocomplete")
    page.keyboard.press("Enter")  # takes the suggestion, does not send
    expect(page.locator("#message")).to_have_value("@skeptic ")
    page.keyboard.type("what could go wrong? And @")
    expect(options).to_have_count(2)
    page.keyboard.press("Escape")
    expect(page.locator("#tag-list")).to_be_hidden()
    page.keyboard.type("architect, the fix?")
    page.keyboard.press("Enter")

    finished(page, 1)
    turn = page.locator(".turn").last
    steps = bubbles(page)
    assert [(s["agent"], s["name"]) for s in steps] == [("skeptic", "Skeptic"), ("architect", "Architect")]
    assert all("sim" in s["head"] and s["text"] for s in steps)
    expect(turn.locator(".turn-usage")).to_contain_text(
        re.compile(r"2 calls · \d+ in · \d+ out tokens · [\d.]+ credits")
    )
    expect(page.locator("#message")).to_have_value("")

    turn.get_by_role("button", name="Ledger").click()
    expect(turn.locator(".ledger tbody tr")).to_have_count(2)
    screenshot(page, "03-manual-turn-with-ledger")

    # A message that tags nobody is refused next to the box, and nothing is added to the conversation.
    send(page, "hello, anyone?")
    expect(page.locator("#composer-error")).to_contain_text("No agent is tagged")
    expect(page.locator("#composer-error")).to_contain_text("@architect, @skeptic")
    expect(page.locator(".turn")).to_have_count(1)
    expect(page.locator("#message")).to_have_value("hello, anyone?")

    # The mode change waits for the next message, and says so.
    page.click("#mode-buttons [data-mode=orchestrator]")
    expect(page.locator("#mode-note")).to_contain_text("pending")
    expect(page.locator("#mode-note")).to_contain_text("applies from the next message")
    send(page, "@architect, propose a database; then @skeptic, find the weak spot")
    finished(page, 2)
    kinds = [(s["kind"], s["agent"]) for s in bubbles(page)]
    assert kinds == [
        ("manager", ""),
        ("agent", "architect"),
        ("manager", ""),
        ("agent", "skeptic"),
        ("manager", ""),
        ("synthesis", ""),
    ]
    assert "asks @architect" in bubbles(page)[0]["text"]
    expect(page.locator("#mode-note")).not_to_contain_text("pending")
    screenshot(page, "04-orchestrated-turn")

    page.click("#nav-usage")
    expect(page.locator("#chart-model svg .bar")).to_have_count(1)  # every call so far used `sim`
    expect(page.locator("#chart-day svg rect")).to_have_count(1)
    expect(page.locator("#table-model")).to_contain_text("sim")
    page.select_option("#usage-metric", "llm_calls")
    expect(page.locator("#chart-model svg .value")).to_have_text("8")  # 2 manual + 6 orchestrated calls
    screenshot(page, "05-usage")

    page.click("#sign-out")
    expect(page.locator("#view-auth")).to_be_visible()
    assert page.evaluate("localStorage.getItem('pantheon.apiKey')") is None


def test_rooms_and_their_councils_are_managed_from_the_page(page: Page, server: Server) -> None:
    api = Api(server)
    room = api.room(
        "Draft",
        [
            {"agent_key": "ada", "model": "sim", "role_prompt": "You are Ada."},
            {"agent_key": "bob", "model": "sim", "role_prompt": "You are Bob."},
            {"agent_key": "cy", "model": "sim", "role_prompt": "You are Cy."},
        ],
    )
    page.goto("/")
    page.fill("#key-input", api.key)
    page.press("#key-input", "Enter")
    expect(page.locator("#room-name")).to_have_text("Draft")

    page.click("#room-settings-toggle")
    page.fill("#room-name-input", "Final council")
    page.fill("#room-goal-input", "Decide.")
    page.click("#room-settings button[type=submit]")
    expect(page.locator("#room-name")).to_have_text("Final council")
    expect(page.locator("#room-list")).to_contain_text("Final council")

    page.click("[aria-label='Move Cy up']")
    expect(page.locator("#agent-list .agent")).to_have_count(3)
    expect(page.locator("#agent-list .agent .agent-name")).to_have_text(["Ada", "Cy", "Bob"])
    agents = api.call("GET", f"/rooms/{room['id']}/agents")["items"]
    assert [a["agent_key"] for a in agents] == ["ada", "cy", "bob"]

    page.locator("#agent-list [data-agent=bob]").get_by_role("button", name="Edit").click()
    page.locator("#agent-list .agent-edit input").fill("Robert")
    page.locator("#agent-list .agent-edit select").select_option("sim-slow")
    page.locator("#agent-list .agent-edit button[type=submit]").click()
    expect(page.locator("#agent-list [data-agent=bob]")).to_contain_text("Robert")
    expect(page.locator("#agent-list [data-agent=bob]")).to_contain_text("sim-slow")

    remove = page.locator("#agent-list [data-agent=ada]").get_by_role("button", name="Remove")
    remove.click()
    page.locator("#agent-list [data-agent=ada]").get_by_role("button", name="Really remove?").click()
    expect(page.locator("#agent-list .agent .agent-name")).to_have_text(["Cy", "Robert"])
    screenshot(page, "06-council-management")

    page.click("#room-delete")
    page.get_by_role("button", name="Really delete?").click()
    expect(page.locator("#no-room")).to_be_visible()
    expect(page.locator("#room-list")).not_to_contain_text("Final council")
    assert api.http.get(f"/rooms/{room['id']}").status_code == 404


def test_a_roundtable_streams_into_each_agents_bubble_and_a_failed_step_shows_failed(
    page: Page, server: Server
) -> None:
    api = Api(server)
    api.room(
        "Roundtable",
        [
            {"agent_key": "ada", "model": "sim-slow", "role_prompt": "You are a careful planner."},
            {"agent_key": "flaky", "model": "sim", "role_prompt": "You never answer. <<pantheon-sim:fail>>"},
            {"agent_key": "bob", "model": "sim", "role_prompt": "You are a bold builder."},
        ],
        mode="roundtable",
    )
    sign_in(page, api.key)
    send(page, "Everyone: what is the biggest risk?")

    # While the turn still runs, the first bubble already holds part of its answer.
    page.wait_for_function(RUNNING_BUBBLE_WITH_TEXT)
    partial = bubbles(page, ".turn[data-status=running]")
    assert partial[0]["agent"] == "ada" and partial[0]["status"] == "running"
    screenshot(page, "07-roundtable-streaming")

    finished(page, 1, "partial")
    ada, flaky, bob = bubbles(page)
    assert len(partial[0]["text"]) < len(ada["text"])
    assert ada["text"].startswith(partial[0]["text"].rstrip())
    assert (ada["status"], flaky["status"], bob["status"]) == ("completed", "failed", "completed")
    assert "simulated_failure" in flaky["all"] and "Failed" in flaky["all"]
    expect(page.locator(".turn .turn-status").last).to_contain_text("Partial")
    screenshot(page, "08-roundtable-with-a-failed-step")


def test_a_reload_mid_turn_picks_the_stream_up_after_the_last_event(page: Page, server: Server) -> None:
    api = Api(server)
    api.room(
        "Reload",
        [
            {"agent_key": "ada", "model": "sim-slow", "role_prompt": "You are a careful planner."},
            {"agent_key": "bob", "model": "sim-slow", "role_prompt": "You are a bold builder."},
        ],
        mode="roundtable",
    )
    sign_in(page, api.key)
    send(page, "Everyone: how do we ship by Friday?")
    page.wait_for_function(RUNNING_BUBBLE_WITH_TEXT)

    resumed_after: list[str | None] = []
    page.on("request", lambda r: r.url.endswith("/events") and resumed_after.append(r.headers.get("last-event-id")))
    page.reload()
    # Drawn again at once from what the page kept, before any new event arrives.
    expect(page.locator(".turn[data-status=running] .bubble.step").first).not_to_have_text("")
    finished(page, 1)

    assert resumed_after and int(resumed_after[0]) > 1  # resumed after its last event, not from the start
    session_id = page.evaluate("localStorage.getItem('pantheon.lastSession')")
    turn = last_turn(api, session_id)
    shown = bubbles(page)
    assert [s["text"] for s in shown] == [step["content"] for step in turn["steps"]]  # nothing twice, nothing lost


def test_a_lost_connection_mid_turn_reconnects_with_last_event_id(
    page: Page, server: Server, proxy: CuttableProxy
) -> None:
    api = Api(server)
    api.room(
        "Flaky network",
        [
            {"agent_key": "ada", "model": "sim-slow", "role_prompt": "You are a careful planner."},
            {"agent_key": "bob", "model": "sim-slow", "role_prompt": "You are a bold builder."},
        ],
        mode="roundtable",
    )
    sign_in(page, api.key)
    resumed_after: list[str | None] = []
    page.on("request", lambda r: r.url.endswith("/events") and resumed_after.append(r.headers.get("last-event-id")))
    send(page, "Everyone: what do we cut?")
    page.wait_for_function(RUNNING_BUBBLE_WITH_TEXT)

    assert proxy.cut(refuse_s=1.5) >= 1
    expect(page.locator(".turn-status").last).to_contain_text("reconnecting")
    screenshot(page, "09-reconnecting")
    finished(page, 1)

    assert resumed_after and all(int(seq) > 1 for seq in resumed_after if seq)
    turn = last_turn(api, page.evaluate("localStorage.getItem('pantheon.lastSession')"))
    assert [s["text"] for s in bubbles(page)] == [step["content"] for step in turn["steps"]]


HOSTILE = """Markdown first: **bold**, *emphasis*, `code` and a [safe link](https://example.com/docs).

- one
- two
  1. nested

```
<b>not bold</b>
```

Then the attacks: <img src=x onerror="window.pwned=1"> and <script>window.pwned=2</script>
and [click me](javascript:window.pwned=3) and [data](data:text/html,<script>1</script>)
and ![tracker](https://example.com/pixel.png)"""


def test_answers_render_markdown_and_hostile_markup_stays_text(
    page: Page, server: Server, proxy: CuttableProxy
) -> None:
    api = Api(server)
    api.room("Echo", [{"agent_key": "echo", "model": "sim", "role_prompt": "You repeat. <<pantheon-sim:echo>>"}])
    remote: list[str] = []
    page.on("request", lambda r: r.url.startswith(proxy.url + "/") or remote.append(r.url))
    sign_in(page, api.key)
    send(page, f"@echo {HOSTILE}")
    finished(page, 1)

    answer = page.locator(".bubble.step .md").last
    expect(answer.locator("strong")).to_have_text("bold")
    expect(answer.locator("em")).to_have_text("emphasis")
    expect(answer.locator("ul > li")).to_have_count(2)
    expect(answer.locator("ul ol > li")).to_have_text("nested")
    expect(answer.locator("pre code")).to_have_text("<b>not bold</b>")
    links = answer.locator("a")
    expect(links).to_have_count(1)
    expect(links).to_have_attribute("href", "https://example.com/docs")
    expect(links).to_have_attribute("rel", "noopener noreferrer nofollow")

    assert answer.locator("img, script, b, iframe").count() == 0
    text = answer.text_content() or ""
    for literal in (
        '<img src=x onerror="window.pwned=1">',
        "<script>window.pwned=2</script>",
        "[click me](javascript:window.pwned=3)",
        "![tracker](https://example.com/pixel.png)",
    ):
        assert literal in text
    assert page.evaluate("window.pwned") is None
    assert remote == []  # nothing the model wrote made the browser fetch anything
    screenshot(page, "10-markdown-and-hostile-text")


def test_a_long_session_loads_its_latest_turns_and_older_ones_on_demand(page: Page, server: Server) -> None:
    api = Api(server)
    room = api.room("Long", [{"agent_key": "ada", "model": "sim", "role_prompt": "You are Ada."}])
    session = api.call("POST", f"/rooms/{room['id']}/sessions", json={})
    for n in range(25):
        api.call("POST", f"/sessions/{session['id']}/turns", json={"message": f"@ada question {n}"})
    pages: list[str] = []
    page.on("request", lambda r: "/turns?" in r.url and pages.append(r.url))
    sign_in(page, api.key)

    expect(page.locator(".turn")).to_have_count(20)
    expect(page.locator(".turn .user-text").last).to_have_text("@ada question 24")
    older = page.locator("#older-turns")
    expect(older).to_contain_text("5 more")
    older.click()
    expect(page.locator(".turn")).to_have_count(25)
    expect(page.locator(".turn .user-text").first).to_have_text("@ada question 0")
    expect(page.locator("#older-turns")).to_have_count(0)
    assert len(pages) == 2 and all("order=desc&limit=20" in url for url in pages)  # one page each time

    # From the keyboard: the focused control shows a focus ring, and Tab leads from the box to Send.
    page.focus("#message")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "send"
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") == "solid"


RENDERED = [
    (
        "plain *em* **strong** ~~gone~~ `a<b`",
        "<p>plain <em>em</em> <strong>strong</strong> <del>gone</del> <code>a&lt;b</code></p>",
    ),
    ("snake_case_words and 2 * 3 * 4 stay", "<p>snake_case_words and 2 * 3 * 4 stay</p>"),
    ("# Title\ntext", "<h4>Title</h4><p>text</p>"),
    ("line one\nline two", "<p>line one<br>line two</p>"),
    ("1. a\n2. b", "<ol><li><span>a</span></li><li><span>b</span></li></ol>"),
    ("> quoted", "<blockquote><p>quoted</p></blockquote>"),
    ("```js\nlet x = '<i>';\n```", "<pre><code data-lang=\"js\">let x = '&lt;i&gt;';</code></pre>"),
    (
        "see https://example.com/a.",
        '<p>see <a href="https://example.com/a" rel="noopener noreferrer nofollow" '
        'target="_blank">https://example.com/a</a>.</p>',
    ),
    (
        "[mail](mailto:ops@example.com)",
        '<p><a href="mailto:ops@example.com" rel="noopener noreferrer nofollow" target="_blank">mail</a></p>',
    ),
    ("[x](JaVaScRiPt:alert(1))", "<p>[x](JaVaScRiPt:alert(1))</p>"),
    ("[x]( javascript:alert(1))", "<p>[x]( javascript:alert(1))</p>"),
    ("[x](vbscript:msgbox(1))", "<p>[x](vbscript:msgbox(1))</p>"),
    ("[x](//evil.example/p)", "<p>[x](//evil.example/p)</p>"),
    ("[x](/api/v1/me)", "<p>[x](/api/v1/me)</p>"),
    ('<a href="javascript:alert(1)">y</a>', '<p>&lt;a href="javascript:alert(1)"&gt;y&lt;/a&gt;</p>'),
    ("![i](https://example.com/i.png)", "<p>![i](https://example.com/i.png)</p>"),
    ("<svg onload=alert(1)>", "<p>&lt;svg onload=alert(1)&gt;</p>"),
]


def test_the_markdown_renderer_builds_only_safe_nodes(page: Page, server: Server) -> None:
    sign_in(page, Api(server).key)
    rendered = page.evaluate(
        """async (cases) => {
          const { renderMarkdown } = await import('/static/markdown.js');
          return cases.map((text) => {
            const box = document.createElement('div');
            box.append(renderMarkdown(text));
            return box.innerHTML;  // serialising what was built, to compare it; nothing is parsed
          });
        }""",
        [text for text, _ in RENDERED],
    )
    assert dict(zip([t for t, _ in RENDERED], rendered, strict=True)) == dict(RENDERED)


def test_fields_of_features_not_built_yet_render_when_they_appear(page: Page, server: Server) -> None:
    """Wallets, stopped turns and new step kinds are in the contract but not served yet: answers that
    carry them (rewritten here in flight) still render, under their own names."""
    api = Api(server)
    room = api.room("Future", [{"agent_key": "ada", "model": "sim", "role_prompt": "You are Ada."}])
    session = api.call("POST", f"/rooms/{room['id']}/sessions", json={})
    api.call("POST", f"/sessions/{session['id']}/turns", json={"message": "@ada hello"})
    wallet = {"balance": "1234.5000", "reserved": "0.0200", "available": "1234.4800", "monthly_cap": None}

    def with_wallet(route: Any) -> None:
        route.fulfill(json={**route.fetch().json(), "credits": wallet})

    def stopped(route: Any) -> None:
        body = route.fetch().json()
        turn = body["items"][0]
        turn.update(status="stopped", stop_reason="credit_cap")
        turn["steps"][0]["status"] = "stopped"
        turn["steps"].append({**turn["steps"][0], "index": 1, "kind": "critique", "status": "completed"})
        route.fulfill(json=body)

    page.route("**/api/v1/me", with_wallet)
    page.route("**/turns?*", stopped)
    sign_in(page, api.key)

    expect(page.locator("#credits")).to_have_text("1,234.4800 credits")
    expect(page.locator(".turn .bubble.step")).to_have_count(2)
    steps = bubbles(page)
    assert [(s["kind"], s["status"]) for s in steps] == [("agent", "stopped"), ("critique", "completed")]
    assert "stopped" in steps[0]["head"] and "critique" in steps[1]["head"]
    expect(page.locator(".turn-status").last).to_have_text("Stopped: credit cap reached")


def test_a_turn_started_elsewhere_is_followed_from_its_first_event(page: Page, server: Server) -> None:
    api = Api(server)
    room = api.room(
        "Elsewhere",
        [
            {"agent_key": "ada", "model": "sim-slow", "role_prompt": "You are a careful planner."},
            {"agent_key": "bob", "model": "sim-slow", "role_prompt": "You are a bold builder."},
        ],
        mode="roundtable",
    )
    session = api.call("POST", f"/rooms/{room['id']}/sessions", json={})
    path = f"/sessions/{session['id']}/turns"
    elsewhere = threading.Thread(target=api.call, args=("POST", path), kwargs={"json": {"message": "Everyone: go"}})
    elsewhere.start()
    try:
        for _ in range(100):  # until the other client's turn runs
            if api.call("GET", path)["items"]:
                break
            time.sleep(0.05)
        sign_in(page, api.key)
        expect(page.locator(".turn[data-status=running]")).to_have_count(1)
        finished(page, 1)
    finally:
        elsewhere.join(30)
    turn = last_turn(api, session["id"])
    assert [s["text"] for s in bubbles(page)] == [step["content"] for step in turn["steps"]]


def test_a_message_sent_while_the_network_is_down_goes_out_once_it_is_back(
    page: Page, server: Server, proxy: CuttableProxy
) -> None:
    api = Api(server)
    room = api.room("Offline", [{"agent_key": "ada", "model": "sim", "role_prompt": "You are Ada."}])
    session = api.call("POST", f"/rooms/{room['id']}/sessions", json={})
    sign_in(page, api.key)
    expect(page.locator("#session-select")).to_be_enabled()
    expect(page.locator("#message")).to_be_visible()  # the session is open before the network goes

    proxy.cut(refuse_s=2.5)
    send(page, "@ada are you there?")
    expect(page.locator(".turn-status").last).to_contain_text("reconnecting")
    finished(page, 1)
    turns = api.call("GET", f"/sessions/{session['id']}/turns")["items"]
    assert [t["user_message"] for t in turns] == ["@ada are you there?"]  # sent once, by its Idempotency-Key
    assert [s["text"] for s in bubbles(page)] == [turns[0]["steps"][0]["content"]]
